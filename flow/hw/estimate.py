"""Per-op cost estimates: cycles per chunk, LUT, FF, BRAM18, URAM, DSP (DESIGN §4.6, §7).

One source of truth for folding (`flow.hw.fold`), the reports and the search's differentiable
cost (`flow.hw.cost`). Every op has a function of plain keyword parameters, so a hypothetical
layer can be costed without a graph; `node_params` reads them off a graph node and
`estimate_graph` costs a whole dataflow graph (calibration factors applied if given).

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
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp

import flow.ir.ops  # noqa: F401  (registers the op domain)
from flow.errors import FlowError
from flow.ir.ops.base import signed_bits
from flow.ir.ops.compute import DSP48E1_A_BITS, dsp_packing

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

    def calibrated(self, op_type: str, calibration) -> "NodeCost":
        return self if calibration is None else NodeCost(**calibration.apply(op_type, self.as_dict()))


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


def _mem_cost(*mems: Memory) -> tuple[int, int, int]:
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


def _levels(out_bits: int) -> int:
    return 2 ** out_bits - 1


def _check_fold(name: str, total_: int, fold: int, what: str):
    if fold < 1 or total_ % fold:
        raise ValueError(f"{what} {fold} does not divide {name} {total_}")


def _clog2(x: int) -> int:
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
    mem_lut, bram, ur = _mem_cost(*(memory(pe * thr_bits, folds << s, ram_style, uram=uram) for s in range(stages)))
    return ThresholdCost(pe * stages * (value_bits + stages), mem_lut, pe * stages * (value_bits + stages), bram, ur)


def dot_products(*, pe: int, simd: int, weight_bits: int, in_bits: int, res_type: str,
                 dsp_port_bits: int = DSP_PORT_BITS) -> tuple[int, int]:
    """(LUTs, DSPs) of PE dot products of SIMD terms per cycle. LUT: FINN-R's multipliers and adder
    tree. DSP: chains of SIMD DSPs adding packed products along the cascade, ⌈PE/lanes⌉ chains
    (flow.ir.ops.compute.dsp_packing); per PE only the read-out of its lane (a spacing-bit add of
    the borrow) stays in the fabric."""
    if not uses_dsp(weight_bits, in_bits, res_type):
        return pe * (simd * lut_multiplier(weight_bits, in_bits) + (weight_bits + in_bits) * (2 * simd - 1)), 0
    packing = dsp_packing(weight_bits, in_bits, dsp_port_bits, simd)
    return pe * packing.spacing, simd * math.ceil(pe / packing.lanes)


# ---------------------------------------------------------------- compute ops

def _mac_unit(out_dim: tuple[str, int, int], in_dim: tuple[str, int, int], weight_bits: int, in_bits: int,
              out_bits: int, acc_bits: int | None, in_signed: bool, no_activation: bool, levels: int | None,
              threshold_style: str, thr_bits: int | None, uram: bool, ram_style: str):
    """What MVAU and VVAU share: their folds ((name, size, PE) outputs, (name, size, SIMD) inputs of
    the dot product), the accumulator width (the node's type, at most FINN's bound) and the
    threshold unit after it. Returns (output folds, input folds, accumulator bits, thresholds)."""
    (out_name, outs, pe), (in_name, ins, simd) = out_dim, in_dim
    _check_fold(out_name, outs, pe, "PE")
    _check_fold(in_name, ins, simd, "SIMD")
    bound = acc_bound(ins, weight_bits, in_bits, in_signed)
    acc = min(acc_bits, bound) if acc_bits else bound
    L = 0 if no_activation else (levels if levels is not None else _levels(out_bits))
    thr = threshold_unit(pe=pe, folds=outs // pe, levels=L, value_bits=acc, thr_bits=thr_bits or acc,
                         style=threshold_style, uram=uram, ram_style=ram_style)
    return outs // pe, ins // simd, acc, thr


def mvau(*, mw: int, mh: int, frames: int, weight_bits: int, in_bits: int, out_bits: int, pe: int = 1,
         simd: int = 1, acc_bits: int | None = None, in_signed: bool = False, no_activation: bool = False,
         levels: int | None = None, res_type: str = "auto", uram: bool = False, threshold_style: str = "parallel",
         thr_bits: int | None = None, dsp_port_bits: int = DSP_PORT_BITS, ram_style: str = "auto") -> NodeCost:
    """Matrix-vector unit: T·(MH/PE)·(MW/SIMD) cycles (FINN); FINN-R LUT/BRAM, packed DSPs,
    thresholds by style (see module)."""
    W, A = weight_bits, in_bits
    nf, sf, acc, thr = _mac_unit(("MH", mh, pe), ("MW", mw, simd), W, A, out_bits, acc_bits, in_signed, no_activation,
                                 levels, threshold_style, thr_bits, uram, ram_style)
    if uses_dsp(W, A, res_type):  # packed words: ⌈PE/lanes⌉ per input element
        packing = dsp_packing(W, A, dsp_port_bits, simd)
        weights = memory(math.ceil(pe / packing.lanes) * simd * packing.packed_bits, nf * sf, ram_style, uram=uram)
    else:
        weights = memory(pe * simd * W, nf * sf, ram_style, uram=uram)
    in_buf = memory(simd * A, sf, uram=uram) if nf > 1 else Memory("none")
    mem_lut, bram, ur = _mem_cost(weights, in_buf)
    dot_lut, dsp = dot_products(pe=pe, simd=simd, weight_bits=W, in_bits=A, res_type=res_type,
                                dsp_port_bits=dsp_port_bits)
    lut = int(MVAU_C0 + MVAU_C1 * (dot_lut + pe * acc + thr.logic_lut)) + mem_lut + thr.mem_lut
    ff = 100 + simd * A + pe * ((0 if dsp else simd * (W + A)) + acc + out_bits) + thr.ff
    return NodeCost(cycles=frames * nf * sf, lut=lut, ff=ff, bram18=bram + thr.bram18, uram=ur + thr.uram, dsp=dsp)


def vvau(*, channels: int, kernel: int, frames: int, weight_bits: int, in_bits: int, out_bits: int, pe: int = 1,
         simd: int = 1, acc_bits: int | None = None, in_signed: bool = False, no_activation: bool = False,
         levels: int | None = None, res_type: str = "auto", uram: bool = False, threshold_style: str = "parallel",
         thr_bits: int | None = None, dsp_port_bits: int = DSP_PORT_BITS, ram_style: str = "auto") -> NodeCost:
    """Depthwise vector-vector unit: T·(C/PE)·(K/SIMD) cycles (FINN); FINN-R LUTs with SIMD taps
    per lane; thresholds by style. Every lane has its own input, so DSP products are not packed."""
    W, A = weight_bits, in_bits
    nf, sf, acc, thr = _mac_unit(("Channels", channels, pe), ("Kernel", kernel, simd), W, A, out_bits, acc_bits,
                                 in_signed, no_activation, levels, threshold_style, thr_bits, uram, ram_style)
    dsp = uses_dsp(W, A, res_type)
    mem = memory(pe * simd * W, nf * sf, ram_style, uram=uram)
    per_pe = (0 if dsp else simd * lut_multiplier(W, A)) + (W + A) * (2 * simd - 1) + acc
    lut = int(MVAU_C0 + MVAU_C1 * (pe * per_pe + thr.logic_lut)) + mem.lut + thr.mem_lut
    ff = 100 + pe * simd * A + pe * ((0 if dsp else simd * (W + A)) + acc + out_bits) + thr.ff
    return NodeCost(cycles=frames * nf * sf, lut=lut, ff=ff, bram18=mem.bram18 + thr.bram18, uram=mem.uram + thr.uram,
                    dsp=pe * simd if dsp else 0)


def thresholding(*, channels: int, frames: int, in_bits: int, out_bits: int, pe: int = 1,
                 levels: int | None = None, uram: bool = False, threshold_style: str = "parallel",
                 thr_bits: int | None = None, ram_style: str = "auto") -> NodeCost:
    """Stand-alone multi-threshold: T·C/PE cycles (FINN); thresholds by style (see module)."""
    _check_fold("NumChannels", channels, pe, "PE")
    L = levels if levels is not None else _levels(out_bits)
    thr = threshold_unit(pe=pe, folds=channels // pe, levels=L, value_bits=in_bits, thr_bits=thr_bits or in_bits,
                         style=threshold_style, uram=uram, ram_style=ram_style)
    return NodeCost(cycles=frames * channels // pe, lut=thr.logic_lut + thr.mem_lut, ff=32 + pe * (in_bits + out_bits) + thr.ff,
                    bram18=thr.bram18, uram=thr.uram)


# ---------------------------------------------------------------- stream ops

def fmpadding(*, channels: int, img_dim: int, pad: tuple[int, int], bits: int, simd: int = 1) -> NodeCost:
    """Zero padding: (ImgDim + pads)·C/SIMD cycles (FINN); resources own (a mux and counters)."""
    _check_fold("NumChannels", channels, simd, "SIMD")
    out_frames = img_dim + int(pad[0]) + int(pad[1])
    return NodeCost(cycles=out_frames * channels // simd, lut=30 + simd * bits, ff=30 + simd * bits)


def sliding_window(*, channels: int, kernel: int, ofm_dim: int, bits: int, simd: int = 1, stride: int = 1,
                   dilation: int = 1, uram: bool = False, taps: int = 1) -> NodeCost:
    """Sliding window: span·C/SIMD + OFMDim·max(K/taps, S)·C/SIMD cycles (our kernel, see module);
    buffer of (span + S) frames; FINN's 300-LUT constant plus the buffer. With several taps per
    beat (depthwise, own model) the buffer is one bank per frame, each tap read through a
    (span + S):1 multiplexer of 4:1 LUT6 stages."""
    _check_fold("IFMChannels", channels, simd, "SIMD")
    _check_fold("ConvKernelDim", kernel, taps, "TapsPerBeat")
    span = (kernel - 1) * dilation + 1
    cf = channels // simd
    frames = span + stride
    if taps == 1:
        buf = memory(simd * bits, frames * cf, uram=uram)
        mux = 0
    else:
        bank = memory(simd * bits, cf)
        buf = Memory(bank.kind, lut=frames * bank.lut, bram18=frames * bank.bram18, uram=frames * bank.uram)
        mux = taps * simd * bits * math.ceil((frames - 1) / 3)
    return NodeCost(cycles=span * cf + ofm_dim * max(kernel // taps, stride) * cf, lut=SWG_LUT + buf.lut + mux,
                    ff=64 + (1 + taps) * simd * bits, bram18=buf.bram18, uram=buf.uram)


def add_streams(*, channels: int, frames: int, out_bits: int, pe: int = 1) -> NodeCost:
    """Residual join: T·C/PE cycles (FINN); own: one LUT and one FF per sum bit."""
    _check_fold("NumChannels", channels, pe, "PE")
    return NodeCost(cycles=frames * channels // pe, lut=16 + pe * out_bits, ff=16 + pe * out_bits)


def duplicate_streams(*, channels: int, frames: int, bits: int, pe: int = 1, outputs: int = 2) -> NodeCost:
    """Fork: T·C/PE cycles (FINN); own: an output register per stream and handshake logic."""
    _check_fold("NumChannels", channels, pe, "PE")
    return NodeCost(cycles=frames * channels // pe, lut=8 * outputs, ff=8 + outputs * pe * bits)


def fifo(*, channels: int, frames: int, depth: int, bits: int, pe: int = 1, uram: bool = False) -> NodeCost:
    """StreamingFIFO of `depth` words of PE elements: T·C/PE cycles; FINN streamingfifo.py."""
    _check_fold("NumChannels", channels, pe, "PE")
    width = pe * bits
    cycles = frames * channels // pe
    address = 2 * _clog2(depth)
    ff = width + address + 4
    if depth <= FIFO_MAX_SRL_DEPTH:
        return NodeCost(cycles=cycles, lut=address + math.ceil(depth / 32) * math.ceil(width / 2), ff=ff)
    depth = 1 << (depth - 1).bit_length()  # Vivado FIFOs are powers of two deep
    mem = memory(width, depth, uram=uram)
    return NodeCost(cycles=cycles, lut=address + mem.lut, ff=ff, bram18=mem.bram18, uram=mem.uram)


def dwc(*, channels: int, frames: int, in_width: int, out_width: int, bits: int) -> NodeCost:
    """Data-width converter (widths in elements): max(T·C/in, T·C/out) cycles; FINN LUTs."""
    _check_fold("NumChannels", channels, in_width, "inWidth")
    _check_fold("NumChannels", channels, out_width, "outWidth")
    inw, outw = in_width * bits, out_width * bits
    intw = inw * outw // math.gcd(inw, outw)
    cnt = cset = 0
    if inw != intw:
        cnt += abs(math.ceil(math.log2(inw / intw)))
        cset += intw
    if intw != outw:
        cnt += abs(math.ceil(math.log2(intw / outw)))
        cset += outw
    cycles = max(frames * channels // in_width, frames * channels // out_width)
    return NodeCost(cycles=cycles, lut=cnt + cset, ff=intw + 2 * _clog2(intw // min(inw, outw) + 1))


def label_select(*, labels: int, frames: int, bits: int, pe: int = 1, k: int = 1) -> NodeCost:
    """Top-K per frame: T·Labels/PE cycles (FINN); own: PE comparators and K running bests."""
    _check_fold("Labels", labels, pe, "PE")
    idx = _clog2(labels)
    return NodeCost(cycles=frames * labels // pe, lut=20 + pe * bits * 2 + k * (bits + idx),
                    ff=20 + pe * bits + k * (bits + idx))


def dynamic_pool(*, channels: int, frames: int, feature_bits: int, out_bits: int, pe: int = 1, lut_bits: int = 8,
                 weight_frac_bits: int = 8, move_frac_bits: int = 8, move_int_bits: int = 1, acc_bits: int = 32,
                 lmax: int = 0, pred_bits: int = 32, levels: int | None = None, uram: bool = False) -> NodeCost:
    """Dynamic pooling (own model). Cycles: the kernel (hls/dynamic_pool.h) takes
    (C/PE)·(Lmax + Z) per chunk, Z = input frames that do not reach a new output frame, which
    is data-dependent; since Z ≤ T_in, (C/PE)·(T_in + Lmax) bounds it, and that is the estimate
    (calibration against the cycle simulation tightens it). Per lane: the product w·f and its two
    resampling products, two saturating accumulators (frames j, j+1) and the requantization
    thresholds; shared: the two sigmoid tables, the position adder and the frame control."""
    _check_fold("NumChannels", channels, pe, "PE")
    F, Fw, I = move_frac_bits, weight_frac_bits, move_int_bits
    L = levels if levels is not None else _levels(out_bits)
    products = ((Fw, feature_bits), (Fw + feature_bits, F + 1), (Fw + feature_bits, F + 1))
    mult = sum(lut_multiplier(w, x) for w, x in products if not uses_dsp(w, x))
    dsp = pe * sum(uses_dsp(w, x) for w, x in products)
    pos_bits = F + max(lmax, 1).bit_length()
    mems = (memory(2 * pe * acc_bits, channels // pe, uram=uram),     # accumulators of frames j, j+1
            memory(pe * L * acc_bits, channels // pe, uram=uram),     # requantization thresholds
            memory(Fw, 2 ** lut_bits), memory(F + I, 2 ** lut_bits))  # importance and move tables
    mem_lut, bram, ur = _mem_cost(*mems)
    lut = 200 + 2 * pred_bits + pos_bits + pe * (mult + 2 * acc_bits + L * acc_bits) + mem_lut
    ff = 100 + 2 * pred_bits + pos_bits + pe * (feature_bits + 2 * acc_bits + out_bits)
    return NodeCost(cycles=(frames + lmax) * channels // pe, lut=lut, ff=ff, bram18=bram, uram=ur, dsp=dsp)


ESTIMATORS = {
    "MVAU": mvau, "VVAU": vvau, "Thresholding": thresholding, "FMPadding1D": fmpadding,
    "ConvolutionInputGenerator1D": sliding_window, "AddStreams": add_streams, "DuplicateStreams": duplicate_streams,
    "StreamingFIFO": fifo, "StreamingDataWidthConverter": dwc, "LabelSelect": label_select,
    "DynamicPool": dynamic_pool,
}


# ---------------------------------------------------------------- graph adapter

def _bits(name: str) -> int:
    return DataType[name].bitwidth()


def _signed(name: str) -> bool:
    return DataType[name].signed()


def _thresholds_of(model, node, index: int) -> np.ndarray | None:
    if len(node.input) > index and node.input[index]:
        th = model.get_initializer(node.input[index])
        if th is not None:
            return np.asarray(th)
    return None


def _levels_of(model, node, index: int) -> int | None:
    th = _thresholds_of(model, node, index)
    return None if th is None else int(th.shape[-1])


def _threshold_params(model, node, index: int) -> dict:
    """Levels, stored width and style of a node's thresholds."""
    th = _thresholds_of(model, node, index)
    op = getCustomOp(node)
    return dict(levels=None if th is None else int(th.shape[-1]),
                thr_bits=None if th is None else signed_bits(th.astype(np.int64)),
                threshold_style=op.get_nodeattr("thresholdStyle"), ram_style=op.get_nodeattr("ramStyle"))


def node_params(model, node, uram: bool = False) -> tuple[str, dict]:
    """(op type, keyword parameters of its estimator) for a graph node; folding is `pe`/`simd`.

    Frames are per chunk: the T of numInputVectors [N, T] (N, the batch, is not hardware)."""
    op = node.op_type
    if op not in ESTIMATORS:
        raise FlowError(f"{node.name} ({op}): no cost model for this op (known: {', '.join(ESTIMATORS)})")
    inst = getCustomOp(node)
    a = inst.get_nodeattr
    t = int(a("numInputVectors")[-1])
    idt, odt = a("inputDataType"), a("outputDataType")
    if op in ("MVAU", "VVAU"):
        no_act = bool(a("noActivation"))
        acc = a("accDataType")
        p = dict(frames=t, weight_bits=_bits(a("weightDataType")), in_bits=_bits(idt), out_bits=_bits(odt),
                 pe=a("PE"), simd=a("SIMD"), acc_bits=_bits(acc) if acc else None, in_signed=_signed(idt),
                 no_activation=no_act, uram=uram,
                 **(dict(levels=None) if no_act else _threshold_params(model, node, 2)))
        if op == "MVAU":
            return op, dict(mw=a("MW"), mh=a("MH"), res_type=a("resType"), dsp_port_bits=a("dspPortBits"), **p)
        return op, dict(channels=a("Channels"), kernel=a("Kernel"), res_type="lut", **p)
    if op == "Thresholding":
        return op, dict(channels=a("NumChannels"), frames=t, in_bits=_bits(idt), out_bits=_bits(odt), pe=a("PE"),
                        uram=uram, **_threshold_params(model, node, 1))
    if op == "FMPadding1D":
        return op, dict(channels=a("NumChannels"), img_dim=a("ImgDim"), pad=tuple(a("Pad")), bits=_bits(idt),
                        simd=a("SIMD"))
    if op == "ConvolutionInputGenerator1D":
        return op, dict(channels=a("IFMChannels"), kernel=a("ConvKernelDim"), ofm_dim=a("OFMDim"), bits=_bits(idt),
                        simd=a("SIMD"), stride=a("Stride"), dilation=a("Dilation"), uram=uram, taps=a("TapsPerBeat"))
    if op == "AddStreams":
        return op, dict(channels=a("NumChannels"), frames=t, out_bits=_bits(odt), pe=a("PE"))
    if op == "DuplicateStreams":
        return op, dict(channels=a("NumChannels"), frames=t, bits=_bits(idt), pe=a("PE"), outputs=len(node.output))
    if op == "StreamingFIFO":
        return op, dict(channels=a("NumChannels"), frames=t, depth=a("depth"), bits=_bits(idt), pe=a("PE"), uram=uram)
    if op == "StreamingDataWidthConverter":
        return op, dict(channels=a("NumChannels"), frames=t, in_width=a("inWidth"), out_width=a("outWidth"),
                        bits=_bits(idt))
    if op == "LabelSelect":
        return op, dict(labels=a("Labels"), frames=t, bits=_bits(idt), pe=a("PE"), k=a("K"))
    # DynamicPool: attributes as far as the op defines them (the op may still be growing)
    attrs = inst.get_nodeattr_types()
    get = lambda k, d: a(k) if k in attrs else d  # noqa: E731
    return op, dict(channels=a("NumChannels"), frames=t, feature_bits=_bits(idt), out_bits=_bits(odt), pe=get("PE", 1),
                    lut_bits=get("LutBits", 8), weight_frac_bits=get("WeightFracBits", 8),
                    move_frac_bits=get("MoveFracBits", 8), move_int_bits=get("MoveIntBits", 1),
                    acc_bits=get("AccBits", 32), lmax=get("Lmax", 0), pred_bits=_bits(get("predDataType", "INT32")),
                    levels=_levels_of(model, node, 3), uram=uram)


def estimate(op_type: str, **params) -> NodeCost:
    """The raw estimate of one op from its parameters (see ESTIMATORS)."""
    return ESTIMATORS[op_type](**params)


def _uram_available(target) -> bool:
    if target is None:
        return False
    if isinstance(target, str):
        from flow.hw.targets import load_target
        target = load_target(target)
    return target.resources.get("uram", 0) > 0


def estimate_node(model, node, calibration=None, target=None) -> NodeCost:
    op, params = node_params(model, node, uram=_uram_available(target))
    try:
        cost = estimate(op, **params)
    except ValueError as e:
        raise FlowError(f"{node.name} ({op}): {e}") from None
    return cost.calibrated(op, calibration)


def estimate_graph(model, calibration=None, target=None) -> dict[str, NodeCost]:
    """{node name: NodeCost} for every node of a dataflow graph, in graph order.

    `calibration`: a `flow.hw.calibration.Calibration` (factors applied per op type), or None for
    raw estimates. `target`: a Target or target name; only decides whether URAM may be used
    (defaults to the calibration's target, else none)."""
    if target is None and calibration is not None and getattr(calibration, "target", None):
        target = calibration.target
    uram = _uram_available(target)
    out = {}
    for node in model.graph.node:
        op, params = node_params(model, node, uram=uram)
        try:
            out[node.name] = estimate(op, **params).calibrated(op, calibration)
        except ValueError as e:
            raise FlowError(f"{node.name} ({op}): {e}") from None
    return out
