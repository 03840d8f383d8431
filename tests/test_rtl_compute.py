"""RTL twins of the compute ops (hls/rtl/thresholding.sv, mvau.sv, vvau.sv, threshold_unit.sv)
under Verilator and Yosys: every output element equal to the golden execution (random and edge
inputs, several foldings, with and without stalls), cycles against the op's cycle model, and one
synthesis per op and style.
Cases the whole-accelerator co-simulation (tests/test_rtlsim.py) also covers run under `slow` only."""
import shutil

import numpy as np
import pytest
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp
from test_rtl_ops import check_twin, single_node

from flow.errors import FlowError
from flow.sim.rtl_op import synthesize

pytestmark = pytest.mark.skipif(shutil.which("verilator") is None or shutil.which("yosys") is None,
                                reason="verilator and yosys are needed")


def fill(style: str | None, levels: int = 0, mac: bool = False) -> int:
    """Cycles from a step's clock to its output beat being taken, derived from the twins' pipelines:
    a MAC twin registers the weights word and input (1), then accumulates (1); the threshold unit
    registers the fold's thresholds with the value (1) and the output (1), or, search, one register
    per stage of the ⌈log2(L+1)⌉-stage binary search plus the output; without an activation the
    accumulator is the output register."""
    thr = 0 if style is None else 2 if style == "parallel" else int(levels).bit_length() + 1
    return (2 if mac else 0) + thr


def assert_cycles(model, node, run, steps: int, extra: int):
    """No stalls: one step per clock from the first input, then the pipeline fill; the op's cycle
    model (T·NF·SF steps) within 2% over these chunks."""
    op = getCustomOp(node)
    model_cycles = op.estimate(**op.cost_params(model)).cycles
    assert model_cycles == steps
    assert run.cycles == steps + extra
    assert abs(run.cycles - model_cycles) <= 0.02 * model_cycles


def edge_frames(rng, t: int, c: int, lo: int, hi: int) -> np.ndarray:
    """[1, T, C]: a frame of the largest value, the smallest, all ones, zeros, then random."""
    x = rng.integers(lo, hi + 1, size=(1, t, c))
    for i, v in enumerate((hi, lo, 1, 0)[:t]):
        x[0, i] = v
    return x


def sorted_thresholds(rng, c: int, levels: int, lo: int, hi: int) -> np.ndarray:
    """[C, L] non-decreasing, channel 0 spanning the extremes: `lo` (always reached), repeated
    levels, and `hi` (one past the largest value: never reached)."""
    th = np.sort(rng.integers(lo, hi + 1, size=(c, levels)), axis=1)
    th[0] = np.sort(np.r_[lo, np.linspace(lo // 2, hi // 2, levels - 2).astype(int), hi])
    th[0, 1:3] = th[0, 1]
    return th


# ---------------------------------------------------------------- Thresholding

def thresholding(rng, t, c, pe, levels, style, idt, odt, bias):
    lo, hi = int(DataType[idt].min()), int(DataType[idt].max())
    th = sorted_thresholds(rng, c, levels, lo - 1, hi + 1)  # one past the range at both ends: a wider type
    model, node = single_node("Thresholding", [[1, t, c]], [[1, t, c]], [idt], [odt], {"thr": ("INT10", th)},
                              NumChannels=c, PE=pe, inputDataType=idt, outputDataType=odt, numInputVectors=[1, t],
                              ActVal=bias, thresholdStyle=style)
    return model, node, edge_frames(rng, t, c, lo, hi)


@pytest.mark.parametrize("style, idt, odt, bias, levels", [
    pytest.param("parallel", "INT8", "INT3", -4, 7, marks=pytest.mark.slow),  # signed in and out (bias −4)
    ("search", "UINT8", "UINT4", 0, 13),    # unsigned input, 13 levels: the last stage probes past L
])
def test_thresholding_twin_bit_exact(tmp_path, style, idt, odt, bias, levels):
    t, c, pe = 128, 4, 2
    model, node, x = thresholding(np.random.default_rng(1), t, c, pe, levels, style, idt, odt, bias)
    free, stalled = check_twin(model, node, [x], tmp_path)
    assert_cycles(model, node, free, t * c // pe, fill(style, levels))
    assert stalled.cycles > free.cycles


@pytest.mark.slow
@pytest.mark.parametrize("style", ["parallel", "search"])
@pytest.mark.parametrize("pe", [1, 6])
def test_thresholding_twin_foldings(tmp_path, style, pe):
    model, node, x = thresholding(np.random.default_rng(pe), 16, 6, pe, 15, style, "INT8", "UINT4", 0)
    check_twin(model, node, [x], tmp_path)


def test_search_tables_hold_each_stages_probes():
    """L = 5: D = 3 stages probing levels {3}, then {1, 5}, then {0, 2, 4, 6} (by hand from
    threshold_search: probe = count + 2^s − 1); 5 and 6 lie past the last level and read as 0."""
    th = np.array([[10, 11, 12, 13, 14], [20, 21, 22, 23, 24]])
    model, node = single_node("Thresholding", [[1, 2, 2]], [[1, 2, 2]], ["INT6"], ["UINT3"], {"thr": ("INT6", th)},
                              NumChannels=2, PE=2, inputDataType="INT6", outputDataType="UINT3", thresholdStyle="search")
    bits, stages = getCustomOp(node).rtl(model).tables["THRESHOLDS"]
    assert bits == 2 * 6  # a word: both lanes' thresholds at 6 bits, lane 1 above lane 0
    word = lambda a, b: a | b << 6  # noqa: E731
    assert [list(s) for s in stages] == [[word(13, 23)], [word(11, 21), 0], [word(10, 20), word(12, 22), word(14, 24), 0]]


# ---------------------------------------------------------------- MVAU

def mvau(rng, t, mw, mh, simd, pe, res, style, no_act=False, levels=15):
    """UINT4 inputs × INT4 weights: column 0..2 all −8 (most negative weight in every lane of a packed
    DSP word, × the largest input 15 in the first frame), column 3 all 7; INT11 accumulators."""
    w = rng.integers(-8, 8, size=(mw, mh))
    w[:, :3], w[:, 3] = -8, 7
    lo, hi = -8 * 15 * mw, 7 * 15 * mw  # the accumulator's reach
    init = {"w": ("INT4", w)}
    if not no_act:
        th = sorted_thresholds(rng, mh, levels, -1024, 1024)  # INT11's minimum, and one past its maximum
        th[1:] = np.sort(rng.integers(lo // 4, hi // 4, size=(mh - 1, levels)), axis=1)
        init["thr"] = ("INT12", th)
    odt = "INT11" if no_act else "UINT4"
    model, node = single_node("MVAU", [[1, t, mw]], [[1, t, mh]], ["UINT4"], [odt], init, MW=mw, MH=mh, SIMD=simd, PE=pe,
                              inputDataType="UINT4", outputDataType=odt, weightDataType="INT4", accDataType="INT11",
                              numInputVectors=[1, t], ActVal=0, noActivation=int(no_act), resType=res,
                              thresholdStyle=style)
    return model, node, edge_frames(rng, t, mw, 0, 15)


@pytest.mark.parametrize("res, style, simd, pe, no_act", [
    pytest.param("lut", "parallel", 2, 3, False, marks=pytest.mark.slow),  # in the whole-accelerator test
    ("dsp", "search", 4, 4, False),   # 3 lanes per DSP word: one full group, one of a single lane
    ("dsp", None, 2, 6, True),        # the CTC head: the accumulator is the output
])
def test_mvau_twin_bit_exact(tmp_path, res, style, simd, pe, no_act):
    t, mw, mh = 64, 8, 12
    model, node, x = mvau(np.random.default_rng(2), t, mw, mh, simd, pe, res, style or "parallel", no_act)
    if res == "dsp":
        assert getCustomOp(node).dsp_packing().lanes == 3
    free, stalled = check_twin(model, node, [x], tmp_path)
    assert_cycles(model, node, free, t * (mh // pe) * (mw // simd), fill(style, 15, mac=True))
    assert stalled.cycles > free.cycles


@pytest.mark.slow
@pytest.mark.parametrize("res, style, simd, pe", [("lut", "search", 1, 1), ("dsp", "parallel", 8, 12),
                                                  ("dsp", "parallel", 1, 2), ("lut", "parallel", 8, 12)])
def test_mvau_twin_foldings(tmp_path, res, style, simd, pe):
    model, node, x = mvau(np.random.default_rng(simd + pe), 8, 8, 12, simd, pe, res, style)
    check_twin(model, node, [x], tmp_path)


# ---------------------------------------------------------------- VVAU

def vvau(rng, t, c, k, simd, pe, style, levels=7):
    """INT5 inputs (depthwise window order) × INT4 weights, channel 0's weights all −8 (× −16: 3·128 = 384,
    the reach of INT10 accumulators)."""
    w = rng.integers(-8, 8, size=(c, k))
    w[0] = -8
    th = sorted_thresholds(rng, c, levels, -512, 512)  # INT10's minimum, one past its maximum
    model, node = single_node("VVAU", [[1, t, k * c]], [[1, t, c]], ["INT5"], ["INT3"], {"w": ("INT4", w), "thr": ("INT11", th)},
                              Channels=c, Kernel=k, SIMD=simd, PE=pe, inputDataType="INT5", outputDataType="INT3",
                              weightDataType="INT4", accDataType="INT10", numInputVectors=[1, t], ActVal=-4,
                              thresholdStyle=style)
    return model, node, edge_frames(rng, t, k * c, -16, 15)


@pytest.mark.parametrize("style, simd, pe", [("search", 3, 2)])
def test_vvau_twin_bit_exact(tmp_path, style, simd, pe):
    t, c, k = 128, 6, 3
    model, node, x = vvau(np.random.default_rng(3), t, c, k, simd, pe, style)
    free, stalled = check_twin(model, node, [x], tmp_path)
    assert_cycles(model, node, free, t * (c // pe) * (k // simd), fill(style, 7, mac=True))
    assert stalled.cycles > free.cycles


@pytest.mark.slow
@pytest.mark.parametrize("style, simd, pe", [("parallel", 1, 3), ("parallel", 3, 6), ("search", 1, 1)])
def test_vvau_twin_foldings(tmp_path, style, simd, pe):
    model, node, x = vvau(np.random.default_rng(simd * pe), 8, 6, 3, simd, pe, style)
    check_twin(model, node, [x], tmp_path)


def test_vvau_twin_refuses_no_activation():
    model, node, _ = vvau(np.random.default_rng(0), 2, 6, 3, 1, 1, "parallel")
    getCustomOp(node).set_nodeattr("noActivation", 1)
    with pytest.raises(FlowError, match="always thresholds"):
        getCustomOp(node).rtl(model)


# ---------------------------------------------------------------- Yosys

def test_mvau_twin_synthesizes_dsp_only_with_resType_dsp(tmp_path):
    """8×16 MVAU, PE 4, SIMD 4, 4-bit: packed DSPs, 3 lanes a word (spacing 4 + 4 + 2 = 10 bits,
    (25 − 4) // 10 + 1 = 3), so per SIMD element ⌈4/3⌉ = 2 DSPs: 8; LUT multipliers: none."""
    rng = np.random.default_rng(4)
    figures = {}
    for res in ("lut", "dsp"):
        model, node, _ = mvau(rng, 4, 16, 8, 4, 4, res, "parallel")
        figures[res] = synthesize(getCustomOp(node).rtl(model), tmp_path / res)
    assert figures["dsp"]["dsp"] == 8 and figures["lut"]["dsp"] == 0
    assert figures["lut"]["lut"] > figures["dsp"]["lut"]  # the multipliers moved into the DSPs


@pytest.mark.slow
def test_threshold_styles_synthesize(tmp_path):
    """Thresholding and VVAU in both threshold styles: no DSPs (every product of a VVAU is in fabric)."""
    rng = np.random.default_rng(5)
    for style in ("parallel", "search"):
        for name, (model, node, _) in {"th": thresholding(rng, 4, 8, 2, 15, style, "INT8", "UINT4", 0),
                                       "vvau": vvau(rng, 4, 8, 3, 3, 2, style)}.items():
            figures = synthesize(getCustomOp(node).rtl(model), tmp_path / f"{name}_{style}")
            assert figures["lut"] > 0 and figures["ff"] > 0 and figures["dsp"] == 0
