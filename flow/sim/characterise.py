"""Characterisation sweep: the cost model's raw estimates against Yosys, over the grid the search explores.

Folding and the search cost a node by its op's formula (`Op.estimate`); a build's own Yosys run
(`rubicon synth`) measures only the handful of foldings that build chose, so factors fitted on it
would be tuned to one design. This sweep samples, per op type and implementation style, the
parameters folding and the search vary (bit widths, PE, SIMD, memory depth, styles), builds a
one-node graph per point with random weights and sorted thresholds, synthesises the node's RTL
twin (hls/rtl/) with Yosys `synth_xilinx` for the target's family, and pairs the raw estimate with
the measurement. Points are deterministic for a seed (point i of an op type depends on the seed,
the op and i only, so more points extend a sweep) and cached by `flow.sim.synth.instance_key`,
so a rerun synthesises nothing it has seen.

Within each (op type, style) group a seeded shuffle holds out every 4th point; factors
(`flow.hw.calibration.fit_factors`, per op type and per style) are fitted on the rest and the
error before and after is measured on the held-out points only. Results go to
reports/calibration/<target>/characterisation.{md,json,png}; `--write [METRIC ...]` merges the
factors (of those metrics only, where named) into targets/<target>.calibration.yaml (the cycle
factors of builds stay).

    python -m flow.sim.characterise --target pynq-z2 [--points 16] [--jobs 2] [--write [lut ff]]
"""
import argparse
import json
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.util.basic import qonnx_make_model
from tqdm import tqdm

from flow.errors import FlowError
from flow.hw import calibration as C
from flow.hw import estimate as E
from flow.hw.fold import dsp_port_bits
from flow.ir.ops.base import DOMAIN, divisors
from flow.ir.ops.resources import acc_bound
from flow.paths import REPO_ROOT
from flow.sim.rtl_op import YOSYS_FAMILY
from flow.sim.synth import synthesize_cached
from flow.sim.synth import instance_key

OPS = ("MVAU", "VVAU", "Thresholding", "ConvolutionInputGenerator1D", "FMPadding1D", "StreamingFIFO",
       "StreamingDataWidthConverter", "AddStreams", "DuplicateStreams")
# MVAU has six styles (multiplier × thresholds) spanning tens to tens of thousands of LUTs: at twice
# the points a style kept four fit points, too few for leave-one-out to keep the fabric styles'
# factor + offset, so those fell back to an op-type factor fitted mostly on DSP points (×0.55).
POINTS_SCALE = {"MVAU": 4}
HOLD_OUT_EVERY = 4
METRICS = ("lut", "ff", "bram18", "dsp")  # what Yosys measures on these parts (no URAM on xc7; none in twins)


# ---------------------------------------------------------------- one node

def one_node(op_type: str, inputs: list, outputs: list, initializers: dict | None = None, **attrs):
    """(model, node): a graph of one dataflow node; inputs/outputs are [(shape, dtype)], initializers
    {name: (dtype, values)} after the stream inputs."""
    initializers = initializers or {}
    names_in = [f"x{i}" for i in range(len(inputs))] + list(initializers)
    names_out = [f"y{i}" for i in range(len(outputs))]
    node = helper.make_node(op_type, names_in, names_out, name=f"{op_type}_0", domain=DOMAIN, **attrs)
    graph = helper.make_graph([node], "characterise",
                              [helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, s) for i, (s, _) in enumerate(inputs)],
                              [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, s) for i, (s, _) in enumerate(outputs)])
    model = ModelWrapper(qonnx_make_model(graph))
    for prefix, ports in (("x", inputs), ("y", outputs)):
        for i, (_, dtype) in enumerate(ports):
            model.set_tensor_datatype(f"{prefix}{i}", DataType[dtype])
    for name, (dtype, values) in initializers.items():
        model.set_initializer(name, np.asarray(values, dtype=np.float32))
        model.set_tensor_datatype(name, DataType[dtype])
    return model, model.graph.node[0]


def _int(bits_: int, signed: bool) -> str:
    return f"{'INT' if signed else 'UINT'}{bits_}"


def _pick(rng, values):
    values = list(values)
    return values[int(rng.integers(len(values)))]


def _thresholds(rng, channels: int, levels: int, lo: int, hi: int) -> np.ndarray:
    """[C, L] sorted per channel within [lo, hi] (a trained layer's thresholds lie in the accumulator's reach)."""
    return np.sort(rng.integers(lo, hi + 1, size=(channels, levels)), axis=1)


def _fold(rng, size: int, cap: int) -> int:
    return _pick(rng, [d for d in divisors(size) if d <= cap])


# ---------------------------------------------------------------- the grid, per op type
# Each sampler draws one point of its op's grid for a given style: (node attributes and shapes as
# plain JSON, the builder's arguments). Weights and thresholds are drawn when the node is built.

# Σ W·A over the fabric multipliers of a point (Yosys/abc time grows with it), and PE·SIMD of a DSP
# point: wide enough to hold the folds builds choose (rubicall_pynq: fabric MVAUs of PE 2 × SIMD 32
# at 4×4 to 6×4 bits, 1,024–1,536 product bits; a DSP MVAU of PE 8 × SIMD 32), which the factors
# would otherwise be extrapolated to.
MAX_LUT_PRODUCT_BITS = 2048
MAX_DSP_LANES = 256


def _lanes(res: str, w: int, a: int) -> int:
    """The most PE·SIMD lanes a point may have (the caps above bound each point's Yosys time)."""
    return MAX_DSP_LANES if res == "dsp" else max(1, MAX_LUT_PRODUCT_BITS // (w * a))


def _mac_types(rng):
    w, a = int(rng.integers(2, 9)), int(rng.integers(2, 9))
    return w, a, bool(rng.integers(2))


def _sample_mvau(rng, style):
    res, thr = style
    w, a, signed = _mac_types(rng)
    mw, mh = _pick(rng, (8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384)), _pick(rng, (8, 16, 32, 48, 64, 96, 128, 256))
    simd = _fold(rng, mw, 32)
    pe = _fold(rng, mh, max(1, _lanes(res, w, a) // simd))
    return dict(MW=mw, MH=mh, SIMD=simd, PE=pe, W=w, A=a, in_signed=signed, resType=res,
                thresholdStyle="parallel" if thr == "noact" else thr, noActivation=int(thr == "noact"),
                ramStyle=_pick(rng, ("auto", "block")), out_bits=int(rng.integers(1, 5)))


def _sample_vvau(rng, style):
    w, a, signed = _mac_types(rng)
    c, k = _pick(rng, (8, 16, 24, 32, 48, 64, 96, 128)), _pick(rng, (3, 5, 7, 9, 11))
    simd = _pick(rng, divisors(k))
    pe = _fold(rng, c, max(1, _lanes("lut", w, a) // simd))
    return dict(Channels=c, Kernel=k, PE=pe, SIMD=simd, W=w, A=a, in_signed=signed, thresholdStyle=style,
                ramStyle=_pick(rng, ("auto", "block")), out_bits=int(rng.integers(1, 5)))


def _sample_thresholding(rng, style):
    c = _pick(rng, (8, 16, 24, 32, 48, 64, 96, 128, 256))
    return dict(NumChannels=c, PE=_fold(rng, c, 32), in_bits=int(rng.integers(4, 17)), in_signed=bool(rng.integers(2)),
                out_bits=int(rng.integers(1, 5)), thresholdStyle=style, ramStyle=_pick(rng, ("auto", "block")))


def _sample_swg(rng, style):
    c, k = _pick(rng, (4, 8, 16, 24, 32, 48, 64, 96, 128, 256)), _pick(rng, (3, 5, 7, 9, 11, 17))
    depthwise = style == "banks" or bool(rng.integers(2))
    taps = _pick(rng, [t for t in divisors(k) if t > 1]) if style == "banks" else 1
    dilation = _pick(rng, (1, 1, 2))
    stride = int(rng.integers(1, min(k, 3) + 1))
    t_in = _pick(rng, (64, 256, 1024, 4200))
    span = (k - 1) * dilation + 1
    return dict(IFMChannels=c, ConvKernelDim=k, SIMD=_fold(rng, c, 32), Stride=stride, Dilation=dilation,
                depthwise=int(depthwise), TapsPerBeat=taps, IFMDim=t_in, OFMDim=(t_in - span) // stride + 1,
                bits=int(rng.integers(2, 9)))


def _sample_fmpadding(rng, style):
    c = _pick(rng, (4, 8, 16, 32, 48, 64, 128, 256))
    return dict(NumChannels=c, SIMD=_fold(rng, c, 32), ImgDim=_pick(rng, (64, 256, 1024, 4200)),
                Pad=[int(rng.integers(0, 9)), int(rng.integers(0, 9))], bits=int(rng.integers(2, 9)))


def _sample_fifo(rng, style):
    lo, hi = (1, 8) if style == "srl" else (9, 12)  # log2 depth: up to 256 (SRL), 512..4096 (BRAM in the estimate)
    depth = int(round(2 ** rng.uniform(lo, hi)))
    c = _pick(rng, (8, 16, 32, 64, 128))
    bits_ = int(rng.integers(2, 9))
    pe = _fold(rng, c, max(1, (1 << 17) // (depth * bits_)))  # ≤ 128 kbit: a deep wide FIFO is a long Yosys run
    return dict(NumChannels=c, PE=pe, depth=max(2, depth), bits=bits_)


def _sample_dwc(rng, style):
    c = _pick(rng, (8, 12, 16, 24, 32, 48, 64, 96, 128))
    inw, outw = _fold(rng, c, 32), _fold(rng, c, 32)
    return dict(NumChannels=c, inWidth=inw, outWidth=outw, bits=int(rng.integers(2, 9)))


def _sample_add(rng, style):
    c = _pick(rng, (8, 16, 32, 48, 64, 128))
    a, b = int(rng.integers(2, 9)), int(rng.integers(2, 9))
    sa, sb = bool(rng.integers(2)), bool(rng.integers(2))
    return dict(NumChannels=c, PE=_fold(rng, c, 32), a_bits=a, a_signed=sa, b_bits=b, b_signed=sb)


def _sample_dup(rng, style):
    c = _pick(rng, (8, 16, 32, 48, 64, 128))
    return dict(NumChannels=c, PE=_fold(rng, c, 32), bits=int(rng.integers(2, 9)), signed=bool(rng.integers(2)))


T = 4  # frames of a compute node's stream: the twins' hardware does not depend on it


def _build_mvau(p, rng):
    mw, mh, w, a = p["MW"], p["MH"], p["W"], p["A"]
    idt = _int(a, p["in_signed"])
    acc = acc_bound(mw, w, a, p["in_signed"])
    init = {"w": (f"INT{w}", rng.integers(-(1 << (w - 1)), 1 << (w - 1), size=(mw, mh)))}
    odt = f"INT{acc}"
    if not p["noActivation"]:
        init["thr"] = (f"INT{acc + 1}", _thresholds(rng, mh, 2 ** p["out_bits"] - 1, -(1 << (acc - 1)), 1 << (acc - 1)))
        odt = f"UINT{p['out_bits']}"
    return one_node("MVAU", [([1, T, mw], idt)], [([1, T, mh], odt)], init, MW=mw, MH=mh, SIMD=p["SIMD"], PE=p["PE"],
                    inputDataType=idt, outputDataType=odt, weightDataType=f"INT{w}", accDataType=f"INT{acc}",
                    numInputVectors=[1, T], ActVal=0, noActivation=p["noActivation"], resType=p["resType"],
                    thresholdStyle=p["thresholdStyle"], ramStyle=p["ramStyle"])


def _build_vvau(p, rng):
    c, k, w, a = p["Channels"], p["Kernel"], p["W"], p["A"]
    idt = _int(a, p["in_signed"])
    acc = acc_bound(k, w, a, p["in_signed"])
    init = {"w": (f"INT{w}", rng.integers(-(1 << (w - 1)), 1 << (w - 1), size=(c, k))),
            "thr": (f"INT{acc + 1}", _thresholds(rng, c, 2 ** p["out_bits"] - 1, -(1 << (acc - 1)), 1 << (acc - 1)))}
    odt = f"UINT{p['out_bits']}"
    return one_node("VVAU", [([1, T, k * c], idt)], [([1, T, c], odt)], init, Channels=c, Kernel=k, PE=p["PE"],
                    SIMD=p["SIMD"], inputDataType=idt, outputDataType=odt, weightDataType=f"INT{w}",
                    accDataType=f"INT{acc}", numInputVectors=[1, T], ActVal=0, thresholdStyle=p["thresholdStyle"],
                    ramStyle=p["ramStyle"])


def _build_thresholding(p, rng):
    c, ib = p["NumChannels"], p["in_bits"]
    idt, odt = _int(ib, p["in_signed"]), f"UINT{p['out_bits']}"
    lo, hi = (-(1 << (ib - 1)), 1 << (ib - 1)) if p["in_signed"] else (0, 1 << ib)
    thr = _thresholds(rng, c, 2 ** p["out_bits"] - 1, lo, hi)
    return one_node("Thresholding", [([1, T, c], idt)], [([1, T, c], odt)], {"thr": (f"INT{ib + 2}", thr)},
                    NumChannels=c, PE=p["PE"], inputDataType=idt, outputDataType=odt, numInputVectors=[1, T], ActVal=0,
                    thresholdStyle=p["thresholdStyle"], ramStyle=p["ramStyle"])


def _build_swg(p, rng):
    dt = f"INT{p['bits']}"
    c, k = p["IFMChannels"], p["ConvKernelDim"]
    attrs = {key: p[key] for key in ("IFMChannels", "ConvKernelDim", "SIMD", "Stride", "Dilation", "depthwise",
                                     "TapsPerBeat", "IFMDim", "OFMDim")}
    return one_node("ConvolutionInputGenerator1D", [([1, p["IFMDim"], c], dt)], [([1, p["OFMDim"], k * c], dt)],
                    inputDataType=dt, outputDataType=dt, numInputVectors=[1, p["IFMDim"]], **attrs)


def _build_fmpadding(p, rng):
    dt, c, t = f"INT{p['bits']}", p["NumChannels"], p["ImgDim"]
    return one_node("FMPadding1D", [([1, t, c], dt)], [([1, t + sum(p["Pad"]), c], dt)], Pad=p["Pad"], NumChannels=c,
                    ImgDim=t, SIMD=p["SIMD"], inputDataType=dt, outputDataType=dt, numInputVectors=[1, t])


def _build_fifo(p, rng):
    dt, c = f"INT{p['bits']}", p["NumChannels"]
    return one_node("StreamingFIFO", [([1, T, c], dt)], [([1, T, c], dt)], depth=p["depth"], NumChannels=c, PE=p["PE"],
                    inputDataType=dt, outputDataType=dt, numInputVectors=[1, T])


def _build_dwc(p, rng):
    dt, c = f"INT{p['bits']}", p["NumChannels"]
    return one_node("StreamingDataWidthConverter", [([1, T, c], dt)], [([1, T, c], dt)], NumChannels=c,
                    inWidth=p["inWidth"], outWidth=p["outWidth"], inputDataType=dt, outputDataType=dt,
                    numInputVectors=[1, T])


def _build_add(p, rng):
    c = p["NumChannels"]
    ta, tb = _int(p["a_bits"], p["a_signed"]), _int(p["b_bits"], p["b_signed"])
    out = f"INT{max(p['a_bits'], p['b_bits']) + 2}"
    return one_node("AddStreams", [([1, T, c], ta), ([1, T, c], tb)], [([1, T, c], out)], NumChannels=c, PE=p["PE"],
                    inputDataType=ta, outputDataType=out, numInputVectors=[1, T])


def _build_dup(p, rng):
    dt, c = _int(p["bits"], p["signed"]), p["NumChannels"]
    return one_node("DuplicateStreams", [([1, T, c], dt)], [([1, T, c], dt)] * 2, NumChannels=c, PE=p["PE"],
                    inputDataType=dt, outputDataType=dt, numInputVectors=[1, T])


# op type → (styles the sweep cycles through, sampler, builder)
GRID = {
    "MVAU": ([(r, t) for r in ("lut", "dsp") for t in ("parallel", "search", "noact")], _sample_mvau, _build_mvau),
    "VVAU": (["parallel", "search"], _sample_vvau, _build_vvau),
    "Thresholding": (["parallel", "search"], _sample_thresholding, _build_thresholding),
    "ConvolutionInputGenerator1D": (["ring", "banks"], _sample_swg, _build_swg),
    "FMPadding1D": ([None], _sample_fmpadding, _build_fmpadding),
    "StreamingFIFO": (["srl", "bram"], _sample_fifo, _build_fifo),
    "StreamingDataWidthConverter": ([None], _sample_dwc, _build_dwc),
    "AddStreams": ([None], _sample_add, _build_add),
    "DuplicateStreams": ([None], _sample_dup, _build_dup),
}


# ---------------------------------------------------------------- points

@dataclass
class Point:
    op_type: str
    index: int
    seed: int
    params: dict
    style: str = ""           # the op class's style_key of the node's estimate parameters
    split: str = "fit"        # "fit" or "held_out"
    estimate: dict = field(default_factory=dict)
    measured: dict = field(default_factory=dict)
    seconds: float = 0.0      # the Yosys run's time (when it ran, if read from the cache)
    cached: bool = False

    def build(self):
        """(model, node) with the point's random weights and thresholds (the same for the same seed)."""
        return GRID[self.op_type][2](self.params, np.random.default_rng([self.seed, OPS.index(self.op_type), self.index, 1]))


def sample_points(points: int, seed: int = 0, ops=OPS) -> list[Point]:
    """`points` per op type (POINTS_SCALE times that for MVAU), cycling through the op's styles; a draw
    equal to an earlier one is drawn again (a duplicate would sit in both the fit and the held-out set)."""
    out = []
    for op in ops:
        if op not in GRID:
            raise FlowError(f"characterise: no grid for op type {op!r} (known: {', '.join(GRID)})")
        styles, sample, _ = GRID[op]
        seen = set()
        for i in range(points * POINTS_SCALE.get(op, 1)):
            rng = np.random.default_rng([seed, OPS.index(op), i])
            for _ in range(100):
                params = sample(rng, styles[i % len(styles)])
                key = json.dumps(params, sort_keys=True)
                if key not in seen:
                    break
            else:
                continue  # the grid of this style is exhausted
            seen.add(key)
            out.append(Point(op, i, seed, params))
    return out


def split_held_out(points: list[Point], seed: int = 0, every: int = HOLD_OUT_EVERY) -> None:
    """Within each (op type, style) group, a seeded shuffle, then every `every`-th point held out
    (at least one of a group of two or more), so every style is tested on points it was not fitted on."""
    groups: dict[tuple, list[Point]] = {}
    for p in points:
        groups.setdefault((p.op_type, p.style), []).append(p)
    for (op, style), group in sorted(groups.items()):
        order = np.random.default_rng([seed, OPS.index(op), sum(map(ord, style)), 2]).permutation(len(group))
        held = {r for r in range(len(group)) if r % every == every - 1} or ({len(group) - 1} if len(group) > 1 else set())
        for rank, k in enumerate(order):
            group[k].split = "held_out" if rank in held else "fit"


def measured_as_estimated(figures: dict) -> dict:
    """Yosys figures as the estimates count them: LUT = logic LUTs + LUTs used as memory."""
    return {"lut": figures["lut"] + figures["lut_memory"], "lut_memory": figures["lut_memory"],
            **{k: figures[k] for k in ("ff", "bram18", "uram", "dsp")}}


def measure(points: list[Point], target, cache: Path, jobs: int = 2, progress: bool = True) -> list[Point]:
    """Raw estimate and Yosys figures of every point (synthesis cached in `cache` by the twin's key)."""
    if target.family not in YOSYS_FAMILY:
        raise FlowError(f"target {target.name}: family {target.family!r} has no Yosys synth_xilinx family "
                        f"(known: {', '.join(YOSYS_FAMILY)})")
    uram = target.resources.get("uram", 0) > 0
    work = []
    for p in points:
        model, node = p.build()
        op = getCustomOp(node)
        if p.op_type == "MVAU":
            op.set_nodeattr("dspPortBits", dsp_port_bits(target))
        params = op.cost_params(model, uram=uram)
        p.style = E.op_class(p.op_type).style_key(params)
        p.estimate = E.estimate(p.op_type, **params).as_dict()
        inst = op.rtl(model)
        key = instance_key(inst, target.family)
        work.append((p, inst, key))

    def one(item):
        p, inst, key = item
        folder = cache / f"{p.op_type}_{key[:16]}"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            return synthesize_cached(inst, folder, target.family, key)
        except FlowError as e:
            raise FlowError(f"characterise: {p.op_type} point {p.index} {p.params}: {e}") from None

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for (p, _, _), figures in tqdm(zip(work, pool.map(one, work)), total=len(work), desc="yosys", unit="point",
                                       disable=not progress):
            p.measured, p.seconds, p.cached = measured_as_estimated(figures), figures["seconds"], figures["cached"]
    return points


# ---------------------------------------------------------------- fit and errors

def records(points: list[Point], split: str | None = None) -> list[dict]:
    """Calibration records (flow.hw.calibration) of the points of one split (None: all)."""
    return [{"node": f"{p.op_type}#{p.index}", "op_type": p.op_type, "style": p.style, "estimate": p.estimate,
             "measured": {m: p.measured[m] for m in METRICS}, "source": "yosys"}
            for p in points if split is None or p.split == split]


def evaluate(points: list[Point], target_name: str) -> dict:
    """Calibration fitted on the fit points (factor, or factor + offset for LUT/FF, per op type and
    per style, each kept only where leave-one-out over the fit points says it helps:
    `flow.hw.calibration.fit_factors`); errors before/after on the held-out points only, per op
    type and per (op type, style)."""
    fit, held = records(points, "fit"), records(points, "held_out")
    cal = C.fit_factors(fit, target=target_name, metrics=METRICS, offsets=True, select=True)
    before, after = C.estimate_error(held, by_style=True), C.estimate_error(held, cal, by_style=True)
    counts = C.sample_counts(held, by_style=True)
    table = {group: {m: {"n": counts[group][m], "before": before[group][m], "after": after[group][m]}
                     for m in METRICS if m in before[group]} for group in before}
    return {"calibration": cal, "errors": table}


# ---------------------------------------------------------------- outputs

def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _calibration_cell(cal, group: str, metric: str) -> str:
    f = cal.factors.get(group, {}).get(metric)
    return _formula(f) if f else "op type's" if "[" in group else "none (raw)"


def _formula(f) -> str:
    return f"×{f.factor:.3g}" + (f" {'+' if f.offset >= 0 else '−'} {abs(f.offset):.3g}" if f.offset else "")


def markdown(result: dict, points: list[Point], meta: dict) -> str:
    cal, table = result["calibration"], result["errors"]
    lines = [f"# Characterisation: estimate vs Yosys, {meta['target']} ({meta['family']})", "",
             f"{len(points)} points ({sum(p.split == 'held_out' for p in points)} held out), seed {meta['seed']}; "
             f"Yosys {meta['yosys_seconds']:.0f} s over all points ({meta['synthesised']} synthesised by this run, in "
             f"{meta['seconds']:.0f} s; the rest from the cache). Command: `{meta['command']}`.", "",
             "Error = mean |estimate − measured| / measured over the **held-out** points, which the fit never saw "
             "(points with a measured 0 are left out; n counts the rest). *before*: the raw estimate (`Op.estimate`); "
             "*after*: with the calibration below, the style's where one was kept, else the op type's. "
             "Measured LUT = logic + memory LUTs. A calibration is kept only where leave-one-out over the fit "
             "points says it predicts better than the raw estimate (op type) or the op type's calibration (style); "
             "LUT and FF may take an offset (measured ≈ factor × estimate + offset).", "",
             "| op type [style] | metric | n | before | after | calibration (fit points) |", "|---|---|---|---|---|---|"]
    for group in sorted(table):
        for m, e in table[group].items():
            lines.append(f"| `{group}` | {m} | {e['n']} | {_pct(e['before'])} | {_pct(e['after'])} | "
                         f"{_calibration_cell(cal, group, m)} |")
    lines += ["", f"Grid (per op type; styles cycled). Not covered: fabric-multiplier MVAU/VVAU points with PE·SIMD·W·A > "
              f"{MAX_LUT_PRODUCT_BITS} and DSP MVAUs with PE·SIMD > {MAX_DSP_LANES} (Yosys time); factors are "
              "extrapolated there.", ""]
    for op in OPS:
        n = [p for p in points if p.op_type == op]
        if n:
            lines.append(f"- {op}: {len(n)} points, styles {sorted({p.style or '-' for p in n})}")
    return "\n".join(lines) + "\n"


def plot(points: list[Point], cal, path: Path) -> None:
    """Estimate vs measured per metric, log-log: raw (grey) and calibrated (colour), held-out points ringed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(5 * len(METRICS), 4.8))
    colours = {op: plt.cm.tab10(i) for i, op in enumerate(OPS)}
    for ax, m in zip(axes, METRICS):
        lo, hi = math.inf, 0
        for p in points:
            meas, raw = p.measured[m], p.estimate[m]
            if meas <= 0 or raw <= 0:
                continue
            calibrated = cal.apply(p.op_type, {m: raw}, p.style)[m]
            held = p.split == "held_out"
            ax.scatter(raw, meas, s=10, color="0.7", marker="o")
            ax.scatter(calibrated, meas, s=24 if held else 10, color=colours[p.op_type],
                       edgecolors="k" if held else "none", linewidths=0.6, marker="o")
            lo, hi = min(lo, raw, calibrated, meas), max(hi, raw, calibrated, meas)
        if hi > 0:
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_title(m.upper())
        ax.set_xlabel("estimate (grey: raw, colour: calibrated)")
        ax.set_ylabel("Yosys")
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=op) for op, c in colours.items()]
    handles.append(plt.Line2D([], [], marker="o", ls="", color="w", markeredgecolor="k", label="held out"))
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def held_out_summary(table: dict) -> dict:
    """Over the op types' (op, metric) rows: mean and median held-out error before and after, and how
    many rows the calibration made better and worse."""
    rows = [e for g, per in table.items() if "[" not in g for e in per.values()]
    b, a = np.array([e["before"] for e in rows] or [0.0]), np.array([e["after"] for e in rows] or [0.0])
    return {"rows": len(rows), "mean_before": float(b.mean()), "mean_after": float(a.mean()),
            "median_before": float(np.median(b)), "median_after": float(np.median(a)),
            "better": int((a < b).sum()), "worse": int((a > b).sum())}


def only_metrics(cal, metrics) -> "C.Calibration":
    """The calibration's factors of these metrics only (a metric whose factors move a checked build away
    from its measurement stays raw); keys left with no factor are dropped."""
    kept = {k: {m: f for m, f in per.items() if m in metrics} for k, per in cal.factors.items()}
    return C.Calibration({k: per for k, per in kept.items() if per}, cal.target)


def run(target_name: str, points: int = 16, jobs: int = 2, out: Path | None = None, cache: Path | None = None,
        seed: int = 0, ops=OPS, write: bool = False, progress: bool = True, write_metrics=METRICS) -> dict:
    """The sweep end to end (see module docstring); returns {"points", "calibration", "errors", "files"}."""
    from flow.hw.targets import load_target

    target = load_target(target_name)
    out = out or REPO_ROOT / "reports" / "calibration" / target.name
    cache = cache or REPO_ROOT / "build" / "characterise" / target.name
    start = time.time()
    pts = sample_points(points, seed, ops)
    measure(pts, target, cache, jobs, progress)
    split_held_out(pts, seed)
    result = evaluate(pts, target.name)
    meta = {"target": target.name, "family": YOSYS_FAMILY[target.family], "seed": seed, "points_per_op": points,
            "seconds": round(time.time() - start, 1), "yosys_seconds": round(sum(p.seconds for p in pts), 1),
            "synthesised": sum(not p.cached for p in pts),
            "command": f"python -m flow.sim.characterise --target {target.name} --points {points} --seed {seed}"}
    out.mkdir(parents=True, exist_ok=True)
    files = {"md": out / "characterisation.md", "json": out / "characterisation.json", "png": out / "characterisation.png"}
    cal = result["calibration"]
    files["json"].write_text(json.dumps({
        **meta, "errors": result["errors"],
        "factors": {k: {m: {"factor": f.factor, "offset": f.offset, "samples": f.samples} for m, f in per.items()}
                    for k, per in cal.factors.items()},
        "points": [{"op_type": p.op_type, "index": p.index, "style": p.style, "split": p.split, "params": p.params,
                    "estimate": p.estimate, "measured": p.measured, "yosys_seconds": p.seconds} for p in pts]}, indent=1))
    files["md"].write_text(markdown(result, pts, meta))
    plot(pts, cal, files["png"])
    if write:
        files["calibration"] = C.save_calibration(C.load_calibration(target.name).merged(only_metrics(cal, write_metrics)),
                                                  target.name)
    return {"points": pts, **result, "files": files, "meta": meta}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m flow.sim.characterise", description=__doc__.split("\n")[0])
    ap.add_argument("--target", required=True, help="a target of targets/ (its family picks the Yosys architecture)")
    ap.add_argument("--points", type=int, default=16, help="points per op type (MVAU: four times); default 16")
    ap.add_argument("--jobs", type=int, default=2, help="parallel Yosys runs (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ops", nargs="+", default=list(OPS), choices=OPS, metavar="OP", help="op types (default: all)")
    ap.add_argument("--out", type=Path, default=None, help="report folder (default reports/calibration/<target>)")
    ap.add_argument("--cache", type=Path, default=None, help="Yosys work and cache (default build/characterise/<target>)")
    ap.add_argument("--write", nargs="*", choices=METRICS, metavar="METRIC", default=None,
                    help="merge the fitted factors into targets/<target>.calibration.yaml (cycle factors stay); "
                         "with metrics named (lut ff bram18 dsp), only theirs")
    args = ap.parse_args(argv)
    try:
        if args.points < 1 or args.jobs < 1:
            raise FlowError("--points and --jobs must be at least 1")
        res = run(args.target, args.points, args.jobs, args.out, args.cache, args.seed, tuple(args.ops),
                  args.write is not None, write_metrics=tuple(args.write or METRICS))
    except FlowError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    h = held_out_summary(res["errors"])
    print(f"{len(res['points'])} points in {res['meta']['seconds']:.0f} s ({res['meta']['synthesised']} synthesised); "
          f"held-out error over {h['rows']} op type × metric rows: median {100 * h['median_before']:.1f}% before, "
          f"{100 * h['median_after']:.1f}% after (mean {100 * h['mean_before']:.1f}% → {100 * h['mean_after']:.1f}%; "
          f"{h['better']} better, {h['worse']} worse); " + ", ".join(str(f) for f in res["files"].values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
