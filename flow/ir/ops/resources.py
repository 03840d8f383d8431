"""The resource arithmetic the ops' cost estimates share (DESIGN §4.6, §7): memories, multipliers,
accumulators, threshold units, DSP packing, and the NodeCost they add up to.

Each op class (`flow.ir.ops`) costs itself from plain keyword parameters (`Op.estimate`), so a
hypothetical layer can be costed without a graph; `flow.hw.estimate` costs a whole graph.

Sources (FINN = github.com/Xilinx/finn, `src/finn/custom_op/fpgadataflow/`, read at commit
39f0c9a6; FINN-R = Blott et al., "FINN-R: An End-to-End Deep-Learning Framework for Fast
Exploration of Quantized Neural Networks", ACM TRETS 2018). The formulas are implemented here
from their description, not copied:

- cycles: the stream semantics of our kernels (hls/), which follow FINN's `get_exp_cycles`
  (MVAU `T·MH/PE·MW/SIMD`, VVAU `T·C/PE·K`, Thresholding/AddStreams/DuplicateStreams `T·C/PE`,
  FMPadding `padded frames·C/SIMD`); the sliding window is `span·C/SIMD + OFMDim·max(K,S)·C/SIMD`
  (the buffer fill, then one window per output frame; close to FINN's 1-D HLS variants).
- MVAU/VVAU LUTs: FINN-R (FINN `hls/matrixvectoractivation_hls.py`, `hls/vectorvectoractivation_hls.py`
  `lut_estimation`): 300 + 1.1·PE·(multipliers + adder tree + accumulator + threshold
  comparators) + memory LUTs; a LUT multiplier costs SIMD·(2⌈(W+A)/6⌉−1)·(W+A); the accumulator
  width is the node's accDataType, else FINN's data-type bound (arXiv:2301.13376).
- DSPs: FINN `dsp_estimation`, PE·SIMD·⌈(W+A)/48⌉ when the multipliers are DSPs. FINN's
  resType "auto" leaves the choice to HLS; our rule (own) is: DSP when W + A ≥ 16 bits
  (an 8×8 product or wider), LUTs below (`DSP_MIN_PRODUCT_BITS`).
- BRAM18: FINN-R / FINN `matrixvectoractivation.py` `bram_estimation` table (UG573 SDP
  RAMB18 aspect ratios): width 1 → 16384 deep, 2 → 8192, ≤4 → 4096, ≤9 → 2048, ≤18 → 1024,
  else 512 × 36 (a memory deeper than 512 stays at 1024 × 18). URAM: FINN `uram_estimation`,
  ⌈width/72⌉·⌈depth/4096⌉. LUTRAM: FINN's `c2` term, width·⌈depth/64⌉ (one LUT6 = 64×1).
- Memory mapping rule (auto): depth ≤ 128 → LUTRAM (FINN's internal_embedded rule for weight
  memories); else BRAM, or URAM on targets that have it when the URAM mapping takes no more
  silicon, i.e. 16·URAM ≤ BRAM18 (one URAM288 holds 16 BRAM18s' bits; own rule).
- Thresholding: FINN `hls/thresholding_hls.py` counts one A-bit comparator per PE; the kernels
  compare all 2^B−1 thresholds at once, so we use FINN-R's MVAU threshold terms instead
  (comparators (2^B−1)·A per PE, threshold memory per PE).
- StreamingFIFO: FINN `streamingfifo.py` (rtl/Q_srl below 257 words: 2⌈log2 depth⌉ address
  LUTs + ⌈depth/32⌉·⌈W/2⌉ SRL LUTs; deeper FIFOs are Vivado FIFOs in BRAM, depth rounded
  up to a power of two, FINN's max_qsrl_depth = 256).
- StreamingDataWidthConverter: FINN `streamingdatawidthconverter.py` `lut_estimation`
  (shift-register via the least common multiple of the widths).
- Sliding window: FINN `convolutioninputgenerator_*` constant 300 LUTs + its buffer
  ((span + S) frames × C × bits, mapped by the rule above).
- Own models (FINN has none): every FF figure, FMPadding, AddStreams, DuplicateStreams,
  LabelSelect and DynamicPool resources, the MVAU input buffer (finn-hlslib buffers the
  input vector for the MH/PE neuron folds; FINN's estimate leaves it as a TODO). These are
  first-order counts of the registers and adders the kernels instantiate; calibration
  (`flow.hw.calibration`) corrects them per target.
"""
import math
from dataclasses import dataclass, fields

import numpy as np

DSP_PRODUCT_BITS = 48                       # the P register of DSP48E1/E2
DSP48E1_A_BITS = 25                         # signed A port of DSP48E1 (Zynq-7000)
DSP48E2_A_BITS = 27                         # of DSP48E2 (UltraScale+), and DSP58 (Versal)


@dataclass(frozen=True)
class DspPacking:
    """`lanes` signed dot products from one chain of DSPs: the weights of neighbouring PEs packed
    `spacing` = W + A + ⌈log2 SIMD⌉ bits apart into the DSPs' A ports, each DSP multiplying one shared
    input element, the chain adding the packed products (hls/mvau.h PackedDspMultipliers). Read out
    exactly by hls/common.h packed_lane: every lane's sum of SIMD products lies strictly inside
    ±2^(spacing−1)."""
    lanes: int
    spacing: int
    weight_bits: int

    @property
    def packed_bits(self) -> int:
        """Two's-complement width of a packed word: the top lane's W bits at (lanes − 1)·spacing, plus one
        with several lanes, for the borrows of negative lower lanes (all lanes at −2^(W−1) sit just below
        −2^((lanes−1)·spacing + W − 1)). The most positive word fits without it."""
        return (self.lanes - 1) * self.spacing + self.weight_bits + (self.lanes > 1)

    def pack(self, weights: np.ndarray) -> np.ndarray:
        """[PE, tiles, SIMD] integer weights → [⌈PE/lanes⌉, tiles, SIMD] packed words Σ_i w_i 2^(i·spacing)."""
        pe = weights.shape[0]
        groups = -(-pe // self.lanes)
        padded = np.zeros((groups * self.lanes,) + weights.shape[1:], dtype=object)
        padded[:pe] = weights.astype(np.int64).astype(object)
        lanes = padded.reshape(groups, self.lanes, *weights.shape[1:])
        packed = sum(lanes[:, i] * (1 << (i * self.spacing)) for i in range(self.lanes))
        return np.asarray(packed, dtype=np.int64)


def dsp_packing(weight_bits: int, in_bits: int, port_bits: int, dot_length: int = 1) -> DspPacking:
    """As many W-bit weights as fit the DSP's `port_bits`-wide signed A port (25 on DSP48E1, 27 on
    DSP48E2) at W + A + ⌈log2 dot_length⌉ bits apart (room for a chain of `dot_length` products),
    and whose sums fit its 48-bit P register."""
    spacing = weight_bits + in_bits + max(0, int(dot_length - 1).bit_length())
    if weight_bits > port_bits or spacing > DSP_PRODUCT_BITS:
        raise ValueError(f"a {weight_bits}-bit × {in_bits}-bit product does not fit a DSP with a {port_bits}-bit port")
    lanes = min(max(1, (port_bits - weight_bits - 1) // spacing + 1), DSP_PRODUCT_BITS // spacing)
    return DspPacking(lanes, spacing, weight_bits)


RESOURCES = ("lut", "ff", "bram18", "uram", "dsp")
METRICS = ("cycles",) + RESOURCES
DSP_MIN_PRODUCT_BITS = 16   # resType auto: a multiplier of W + A ≥ this many bits goes to a DSP
DSP_PORT_BITS = DSP48E1_A_BITS  # the smaller DSP A port, where a caller names no target
LUTRAM_MAX_DEPTH = 128      # memories this shallow are LUTRAM (FINN's internal_embedded rule)
URAM_PER_BRAM18 = 16        # bits of one URAM288 in BRAM18s: URAM when 16·n_uram ≤ n_bram18
FIFO_MAX_SRL_DEPTH = 256    # FINN max_qsrl_depth: deeper FIFOs are BRAM-based Vivado FIFOs
MVAU_C0, MVAU_C1 = 300, 1.1  # FINN-R LUT fit constants
SWG_LUT = 300               # FINN sliding-window constant


@dataclass(frozen=True)
class NodeCost:
    """Cycles per chunk and resources of one node (ints raw; floats once calibrated)."""
    cycles: float = 0
    lut: float = 0
    ff: float = 0
    bram18: float = 0
    uram: float = 0
    dsp: float = 0

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __add__(self, other: "NodeCost") -> "NodeCost":
        """Resources add; cycles take the maximum (nodes of a dataflow graph run concurrently)."""
        return NodeCost(max(self.cycles, other.cycles), *(getattr(self, r) + getattr(other, r) for r in RESOURCES))

    def calibrated(self, op_type: str, calibration, style: str = "") -> "NodeCost":
        """With the calibration's factors for the op type in `style` (the op class's `style_key`)."""
        return self if calibration is None else NodeCost(**calibration.apply(op_type, self.as_dict(), style))


def total(costs) -> NodeCost:
    """Whole-graph figure: summed resources, cycles of the slowest node (the throughput bound)."""
    out = NodeCost()
    for c in (costs.values() if isinstance(costs, dict) else costs):
        out = out + c
    return out


# ---------------------------------------------------------------- memories

@dataclass(frozen=True)
class Memory:
    kind: str  # "none" | "lutram" | "bram" | "uram"
    lut: int = 0
    bram18: int = 0
    uram: int = 0


def bram18_count(width: int, depth: int) -> int:
    """RAMB18s in simple dual-port mode for a width × depth memory (FINN-R/FINN table)."""
    if width <= 0 or depth <= 0:
        return 0
    if width == 1:
        return math.ceil(depth / 16384)
    if width == 2:
        return math.ceil(depth / 8192)
    if width <= 4:
        return math.ceil(depth / 4096) * math.ceil(width / 4)
    if width <= 9:
        return math.ceil(depth / 2048) * math.ceil(width / 9)
    if width <= 18 or depth > 512:
        return math.ceil(depth / 1024) * math.ceil(width / 18)
    return math.ceil(depth / 512) * math.ceil(width / 36)


def uram_count(width: int, depth: int) -> int:
    """URAM288s (72 × 4096) for a width × depth memory (FINN uram_estimation)."""
    if width <= 0 or depth <= 0:
        return 0
    return math.ceil(width / 72) * math.ceil(depth / 4096)


def lutram_luts(width: int, depth: int) -> int:
    """LUT6s as 64×1 RAM/ROM (FINN-R's c2 term)."""
    if width <= 0 or depth <= 0:
        return 0
    return width * math.ceil(depth / 64)


def memory(width: int, depth: int, style: str = "auto", uram: bool = False) -> Memory:
    """Map a width × depth (bits × words) memory: `style` auto (the rule in the module docstring),
    distributed (LUTRAM), block (BRAM18) or ultra (URAM), FINN's ram_style values."""
    width, depth = int(width), int(depth)
    if width <= 0 or depth <= 0:
        return Memory("none")
    if style == "auto":
        if depth <= LUTRAM_MAX_DEPTH:
            style = "distributed"
        elif uram and URAM_PER_BRAM18 * uram_count(width, depth) <= bram18_count(width, depth):
            style = "ultra"
        else:
            style = "block"
    if style == "distributed":
        return Memory("lutram", lut=lutram_luts(width, depth))
    if style == "ultra":
        return Memory("uram", uram=uram_count(width, depth))
    if style == "block":
        return Memory("bram", bram18=bram18_count(width, depth))
    raise ValueError(f"unknown memory style {style!r} (auto, distributed, block, ultra)")


def mem_cost(*mems: Memory) -> tuple[int, int, int]:
    return sum(m.lut for m in mems), sum(m.bram18 for m in mems), sum(m.uram for m in mems)


# ---------------------------------------------------------------- arithmetic helpers

def uses_dsp(weight_bits: int, in_bits: int, res_type: str = "auto") -> bool:
    if res_type not in ("auto", "lut", "dsp"):
        raise ValueError(f"resType {res_type!r} is not auto, lut or dsp")
    return res_type == "dsp" or (res_type == "auto" and weight_bits + in_bits >= DSP_MIN_PRODUCT_BITS)


def lut_multiplier(weight_bits: int, in_bits: int) -> int:
    """LUTs of one W×A multiplier (FINN-R)."""
    s = weight_bits + in_bits
    return (2 * math.ceil(s / 6) - 1) * s


def acc_bound(dot_length: int, weight_bits: int, in_bits: int, in_signed: bool) -> int:
    """Minimum accumulator width for a dot product (FINN, after arXiv:2301.13376)."""
    alpha = math.log2(max(dot_length, 1)) + weight_bits + in_bits - 1 - int(in_signed)
    return int(math.ceil(alpha + math.log2(1 + 2 ** -alpha) + 1))


def full_levels(out_bits: int) -> int:
    return 2 ** out_bits - 1


def check_fold(name: str, size: int, fold: int, what: str):
    if fold < 1 or size % fold:
        raise ValueError(f"{what} {fold} does not divide {name} {size}")


def clog2(x: int) -> int:
    return max(1, math.ceil(math.log2(max(x, 2))))


def search_stages(levels: int) -> int:
    """Comparator stages of the binary-search threshold unit: ⌈log2(L + 1)⌉ (hls/common.h)."""
    return max(1, math.ceil(math.log2(levels + 1))) if levels > 0 else 0


@dataclass(frozen=True)
class ThresholdCost:
    logic_lut: int  # comparators (scaled by the FINN-R fit constant like the rest of the datapath)
    mem_lut: int    # threshold memories in LUTRAM
    ff: int
    bram18: int
    uram: int


def threshold_unit(*, pe: int, folds: int, levels: int, value_bits: int, thr_bits: int, style: str = "parallel",
                   uram: bool = False, ram_style: str = "auto") -> ThresholdCost:
    """PE multi-threshold lanes over `folds` channel groups, thresholds stored at their own width.

    parallel (FINN-R's MVAU threshold terms): L comparators per lane and one memory word of L
    thresholds per group, read whole every cycle. search (own model of hls/common.h
    threshold_search, pipelined): D = ⌈log2(L+1)⌉ comparators per lane, stage s a memory of
    folds·2^s single thresholds, and per stage a register of the value and the partial count."""
    if levels == 0:
        return ThresholdCost(0, 0, 0, 0, 0)
    if style == "parallel":
        mem = memory(pe * levels * thr_bits, folds, ram_style, uram=uram)
        return ThresholdCost(pe * levels * value_bits, mem.lut, 0, mem.bram18, mem.uram)
    if style != "search":
        raise ValueError(f"threshold style {style!r} is not parallel or search")
    stages = search_stages(levels)
    mem_lut, bram, ur = mem_cost(*(memory(pe * thr_bits, folds << s, ram_style, uram=uram) for s in range(stages)))
    return ThresholdCost(pe * stages * (value_bits + stages), mem_lut, pe * stages * (value_bits + stages), bram, ur)


def dot_products(*, pe: int, simd: int, weight_bits: int, in_bits: int, res_type: str,
                 dsp_port_bits: int = DSP_PORT_BITS) -> tuple[int, int]:
    """(LUTs, DSPs) of PE dot products of SIMD terms per cycle. LUT: FINN-R's multipliers and adder
    tree. DSP: chains of SIMD DSPs adding packed products along the cascade, ⌈PE/lanes⌉ chains
    (`dsp_packing`); per PE only the read-out of its lane (a spacing-bit add of
    the borrow) stays in the fabric."""
    if not uses_dsp(weight_bits, in_bits, res_type):
        return pe * (simd * lut_multiplier(weight_bits, in_bits) + (weight_bits + in_bits) * (2 * simd - 1)), 0
    packing = dsp_packing(weight_bits, in_bits, dsp_port_bits, simd)
    return pe * packing.spacing, simd * math.ceil(pe / packing.lanes)


def mac_unit(out_dim: tuple[str, int, int], in_dim: tuple[str, int, int], weight_bits: int, in_bits: int,
             out_bits: int, acc_bits: int | None, in_signed: bool, no_activation: bool, levels: int | None,
             threshold_style: str, thr_bits: int | None, uram: bool, ram_style: str):
    """What MVAU and VVAU share: their folds ((name, size, PE) outputs, (name, size, SIMD) inputs of
    the dot product), the accumulator width (the node's type, at most FINN's bound) and the
    threshold unit after it. Returns (output folds, input folds, accumulator bits, thresholds)."""
    (out_name, outs, pe), (in_name, ins, simd) = out_dim, in_dim
    check_fold(out_name, outs, pe, "PE")
    check_fold(in_name, ins, simd, "SIMD")
    bound = acc_bound(ins, weight_bits, in_bits, in_signed)
    acc = min(acc_bits, bound) if acc_bits else bound
    L = 0 if no_activation else (levels if levels is not None else full_levels(out_bits))
    thr = threshold_unit(pe=pe, folds=outs // pe, levels=L, value_bits=acc, thr_bits=thr_bits or acc,
                         style=threshold_style, uram=uram, ram_style=ram_style)
    return outs // pe, ins // simd, acc, thr

