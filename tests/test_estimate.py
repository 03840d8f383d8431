"""Per-op estimates (flow.hw.estimate): each formula pinned on hand-computed cases and trends."""
import math

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.basic import qonnx_make_model

from flow.errors import FlowError
from flow.hw import estimate as E
from flow.ir.ops import resources as R
from flow.hw.calibration import Calibration, Factor
from flow.ir.ops.base import DOMAIN

MV = dict(mw=96, mh=96, frames=1400, weight_bits=4, in_bits=4, out_bits=4, acc_bits=13)


# ---------------------------------------------------------------- memories

@pytest.mark.parametrize("width, depth, expected", [
    (1, 16384, 1), (1, 16385, 2), (2, 8192, 1), (2, 8193, 2), (3, 4096, 1), (4, 4097, 2), (5, 2048, 1),
    (9, 2048, 1), (9, 2049, 2), (10, 1024, 1), (18, 1025, 2), (19, 512, 1), (36, 512, 1), (37, 512, 2),
    (19, 513, 2), (36, 1024, 2), (72, 512, 2), (0, 100, 0), (8, 0, 0)])
def test_bram18_table_edges(width, depth, expected):
    assert R.bram18_count(width, depth) == expected


def test_memory_mapping_rule():
    assert R.memory(64, 128) == R.Memory("lutram", lut=64 * 2)              # ≤ 128 deep: LUTRAM
    assert R.memory(64, 129).kind == "bram" and R.memory(64, 129).bram18 == 2
    big = (144, 8192)                                                        # 2 URAMs wide × 2 deep
    assert R.bram18_count(*big) == 8 * 8 and R.uram_count(*big) == 4
    assert R.memory(*big, uram=True) == R.Memory("uram", uram=4)             # 16·4 ≤ 64 BRAM18
    assert R.memory(*big, uram=False).kind == "bram"                         # a board without URAM
    assert R.memory(4, 9216, uram=True).kind == "bram"                       # 3 URAMs would waste silicon
    assert R.memory(8, 10, style="block").bram18 == 1
    assert R.memory(0, 10) == R.Memory("none")
    with pytest.raises(ValueError):
        R.memory(8, 10, style="flash")


# ---------------------------------------------------------------- compute ops

def test_mvau_hand_computed():
    c = E.estimate("MVAU", **MV, pe=1, simd=24)
    assert c.cycles == 1400 * 96 * 4
    # per PE: 24 LUT multipliers of (2·⌈8/6⌉−1)·8 = 24, adder tree 8·47, accumulator 13, comparators 15·13
    per_pe = 24 * 24 + 8 * 47 + 13 + 15 * 13
    weights = R.bram18_count(24 * 4, 96 * 4)          # 96 bits × 384 words → 3 BRAM18
    thresholds = R.lutram_luts(15 * 13, 96)           # 195 bits × 96 words → LUTRAM
    in_buf = R.lutram_luts(24 * 4, 4)                 # the input vector, 4 words
    assert weights == 3
    assert c.lut == int(300 + 1.1 * per_pe) + thresholds + in_buf == 2062
    assert (c.bram18, c.uram, c.dsp) == (3, 0, 0)


def test_mvau_folding_trends():
    base = E.estimate("MVAU", **MV)
    for fold in [dict(pe=2), dict(simd=2), dict(pe=4, simd=8)]:
        c = E.estimate("MVAU", **MV, **fold)
        assert c.cycles == base.cycles / math.prod(fold.values())
        assert c.lut > base.lut and c.ff > base.ff
    luts = [E.estimate("MVAU", **MV, pe=pe).lut for pe in (1, 2, 4, 8, 16, 32, 96)]
    assert luts == sorted(luts)
    luts = [E.estimate("MVAU", **MV, simd=s).lut for s in (1, 2, 4, 8, 16, 32, 96)]
    assert luts == sorted(luts)
    lut_w = [E.estimate("MVAU", **(MV | dict(weight_bits=w)), simd=8).lut for w in range(2, 8)]
    lut_a = [E.estimate("MVAU", **(MV | dict(in_bits=a)), simd=8).lut for a in range(2, 8)]
    assert lut_w == sorted(lut_w) and lut_a == sorted(lut_a)
    # more output bits: more threshold levels
    assert E.estimate("MVAU", **(MV | dict(out_bits=6))).lut > base.lut
    assert E.estimate("MVAU", **MV, no_activation=True).lut < base.lut


def test_mvau_dsp_rule_and_accumulator_bound():
    eight = MV | dict(weight_bits=8, in_bits=8, acc_bits=None)
    c = E.estimate("MVAU", **eight, pe=4, simd=2)
    # W + A = 16 goes to DSPs. Lanes sit W + A + ⌈log2 SIMD⌉ = 17 bits apart; two would need a packed word of
    # 17 + 8 + 1 (the borrow of a negative lower lane) = 26 bits > the 25-bit A port, so one lane:
    # 2 SIMD × 4 PE = 8 DSP48E1
    assert c.dsp == 8
    assert E.estimate("MVAU", **eight, pe=4, simd=2, res_type="lut").dsp == 0
    assert E.estimate("MVAU", **eight, pe=4, simd=2, res_type="lut").lut > c.lut
    assert E.estimate("MVAU", **MV, pe=4, simd=2).dsp == 0               # 4 × 4 stays in LUTs
    # 4 × 4: three lanes 9 bits apart (2·9 + 4 + 1 = 23 ≤ 25; four would need 32): 2 × ⌈4/3⌉ = 4
    assert E.estimate("MVAU", **MV, pe=4, simd=2, res_type="dsp").dsp == 4
    assert E.estimate("MVAU", **MV, pe=6, simd=2, res_type="dsp").dsp == 4
    assert E.estimate("MVAU", **MV, pe=6, simd=2, res_type="dsp", dsp_port_bits=27).dsp == 4  # still 3 lanes (32 > 27)
    # FINN's bound: log2(96) + 4 + 4 − 1 = 13.58 → ⌈13.58 + ε + 1⌉ = 15; the node's own type wins if smaller
    assert R.acc_bound(96, 4, 4, in_signed=False) == 15
    assert R.acc_bound(96, 4, 4, in_signed=True) == 14
    assert E.estimate("MVAU", **(MV | dict(acc_bits=32))).lut == E.estimate("MVAU", **(MV | dict(acc_bits=15))).lut


def test_vvau_hand_computed():
    p = dict(channels=96, kernel=25, frames=1400, weight_bits=4, in_bits=4, out_bits=4, acc_bits=12)
    c = E.estimate("VVAU", **p, pe=6)
    assert c.cycles == 1400 * 16 * 25
    per_pe = 24 + 8 * 1 + 12 + 15 * 12
    assert c.lut == int(300 + 1.1 * 6 * per_pe) + R.lutram_luts(6 * 15 * 12, 16) == 2858
    assert c.bram18 == R.bram18_count(6 * 4, 16 * 25) == 1
    cyc = [E.estimate("VVAU", **p, pe=pe).cycles for pe in (1, 2, 3, 4, 6, 8, 12, 96)]
    assert cyc == sorted(cyc, reverse=True)


def test_thresholding_hand_computed():
    c = E.estimate("Thresholding", channels=64, frames=100, in_bits=9, out_bits=8, pe=4)
    assert c.cycles == 100 * 16
    assert c.lut == 4 * 255 * 9 + R.lutram_luts(4 * 255 * 9, 16)
    assert E.estimate("Thresholding", channels=64, frames=100, in_bits=9, out_bits=8, pe=4, levels=3).lut < c.lut
    assert E.estimate("Thresholding", channels=64, frames=100, in_bits=9, out_bits=4, pe=8).lut > \
        E.estimate("Thresholding", channels=64, frames=100, in_bits=9, out_bits=4, pe=4).lut


# ---------------------------------------------------------------- stream ops

def test_sliding_window_and_padding_cycles():
    stem = E.estimate("ConvolutionInputGenerator1D", channels=1, kernel=9, stride=3, ofm_dim=1400, bits=8)
    assert stem.cycles == 9 + 1400 * 9                       # span·C/SIMD + OFM·max(K, S)·C/SIMD
    assert stem.lut == 300 + R.lutram_luts(8, 12)            # (9 + 3) frames of one 8-bit channel
    dw = E.estimate("ConvolutionInputGenerator1D", channels=96, kernel=25, ofm_dim=1400, bits=4, simd=6)
    assert dw.cycles == 25 * 16 + 1400 * 25 * 16
    assert dw.bram18 == R.bram18_count(24, 26 * 16) == 1
    wide = E.estimate("ConvolutionInputGenerator1D", channels=96, kernel=25, ofm_dim=1400, bits=4, simd=96)
    assert wide.bram18 == 0 and wide.lut == 300 + R.lutram_luts(384, 26)
    assert E.estimate("ConvolutionInputGenerator1D", channels=4, kernel=3, stride=5, ofm_dim=10, bits=4).cycles == 3 * 4 + 10 * 5 * 4
    assert E.estimate("ConvolutionInputGenerator1D", channels=4, kernel=3, dilation=2, ofm_dim=10, bits=4).cycles == 5 * 4 + 10 * 3 * 4
    pad = E.estimate("FMPadding1D", channels=48, img_dim=1400, pad=(7, 7), bits=6, simd=4)
    assert pad.cycles == 1414 * 12
    assert E.estimate("FMPadding1D", channels=48, img_dim=1400, pad=(7, 7), bits=6, simd=8).lut > pad.lut


def test_fifo_srl_and_bram():
    small = E.estimate("StreamingFIFO", channels=96, frames=100, depth=2, bits=4, pe=6)
    assert small.cycles == 1600
    assert small.lut == 2 * 1 + 1 * 12 and small.bram18 == 0   # FINN Q_srl: address + ⌈d/32⌉·⌈W/2⌉
    at_limit = E.estimate("StreamingFIFO", channels=96, frames=100, depth=256, bits=4, pe=6)
    assert at_limit.bram18 == 0 and at_limit.lut == 2 * 8 + 8 * 12
    deep = E.estimate("StreamingFIFO", channels=96, frames=100, depth=300, bits=4, pe=6)
    assert deep.bram18 == R.bram18_count(24, 512) == 1         # Vivado FIFO, depth rounded up to 512
    luts = [E.estimate("StreamingFIFO", channels=96, frames=100, depth=d, bits=4, pe=6).lut for d in (2, 16, 64, 256)]
    assert luts == sorted(luts)


def test_dwc_hand_computed():
    c = E.estimate("StreamingDataWidthConverter", channels=96, frames=100, in_width=1, out_width=6, bits=4)
    assert c.cycles == 9600                                   # the narrow side sets the pace
    assert c.lut == 2 + 24                                    # 4 → lcm 24 bits: ⌈log2 6⌉ counter + 24
    c = E.estimate("StreamingDataWidthConverter", channels=96, frames=100, in_width=6, out_width=4, bits=4)   # 24 → lcm 48 → 16 bits
    assert c.cycles == 2400 and c.lut == 1 + 48 + 2 + 16
    assert E.estimate("StreamingDataWidthConverter", channels=96, frames=100, in_width=4, out_width=4, bits=4).lut == 0


def test_join_fork_label_dynamic_pool():
    add = E.estimate("AddStreams", channels=64, frames=100, out_bits=9, pe=4)
    assert add.cycles == 1600 and add.lut == 16 + 36
    dup = E.estimate("DuplicateStreams", channels=64, frames=100, bits=8, pe=4)
    assert dup.cycles == 1600 and dup.ff == 8 + 2 * 32
    lab = E.estimate("LabelSelect", labels=5, frames=100, bits=17)
    assert lab.cycles == 500
    dp = dict(channels=64, frames=1400, feature_bits=4, out_bits=4, lmax=466, acc_bits=16)
    c1, c4 = E.estimate("DynamicPool", **dp), E.estimate("DynamicPool", **dp, pe=4)
    assert c1.cycles == (1400 + 466) * 64 and c4.cycles == (1400 + 466) * 16  # (C/PE)·(T_in + Lmax) bound
    assert c4.lut > c1.lut and c4.ff > c1.ff
    assert E.estimate("DynamicPool", **dp, weight_frac_bits=8, move_frac_bits=8).dsp == 2   # 12 × 9 products → DSP
    assert E.estimate("DynamicPool", **dp, weight_frac_bits=4, move_frac_bits=4).dsp == 0


def test_folding_must_divide():
    with pytest.raises(ValueError, match="PE 5 does not divide MH 96"):
        E.estimate("MVAU", **MV, pe=5)
    with pytest.raises(ValueError, match="SIMD 7"):
        E.estimate("ConvolutionInputGenerator1D", channels=96, kernel=3, ofm_dim=10, bits=4, simd=7)


def test_nodecost_add_and_total():
    a, b = E.NodeCost(10, 1, 2, 3, 4, 5), E.NodeCost(20, 1, 1, 1, 1, 1)
    assert a + b == E.NodeCost(20, 2, 3, 4, 5, 6)
    assert E.total({"a": a, "b": b}) == a + b
    assert E.total([]) == E.NodeCost()


# ---------------------------------------------------------------- graph adapter

def _graph():
    """FMPadding → sliding window → MVAU → Thresholding, built by hand (no weights needed)."""
    def vi(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
    nodes = [
        helper.make_node("FMPadding1D", ["x"], ["p"], name="pad", domain=DOMAIN, Pad=[1, 1], NumChannels=8, ImgDim=50,
                         numInputVectors=[1, 50], inputDataType="UINT4", outputDataType="UINT4"),
        helper.make_node("ConvolutionInputGenerator1D", ["p"], ["w"], name="swg", domain=DOMAIN, ConvKernelDim=3,
                         IFMChannels=8, IFMDim=52, OFMDim=50, numInputVectors=[1, 52], inputDataType="UINT4",
                         outputDataType="UINT4"),
        helper.make_node("MVAU", ["w", "W", "T"], ["m"], name="mvau", domain=DOMAIN, MW=24, MH=16, SIMD=8, PE=2,
                         numInputVectors=[1, 50], inputDataType="UINT4", outputDataType="INT10", ActVal=0,
                         weightDataType="INT4", accDataType="INT10", noActivation=1),
        helper.make_node("Thresholding", ["m", "T2"], ["y"], name="th", domain=DOMAIN, NumChannels=16, PE=4,
                         numInputVectors=[1, 50], inputDataType="INT10", outputDataType="UINT2")]
    g = helper.make_graph(nodes, "g", [vi("x", [1, 50, 8])], [vi("y", [1, 50, 16])],
                          value_info=[vi("p", [1, 52, 8]), vi("w", [1, 50, 24]), vi("m", [1, 50, 16])])
    m = ModelWrapper(qonnx_make_model(g))
    m.set_initializer("T2", np.zeros((16, 3), dtype=np.float32))
    for t, dt in (("x", "UINT4"), ("p", "UINT4"), ("w", "UINT4"), ("m", "INT10"), ("y", "UINT2")):
        m.set_tensor_datatype(t, DataType[dt])
    return m


def test_estimate_graph_reads_the_nodes():
    m = _graph()
    costs = E.estimate_graph(m)
    assert list(costs) == ["pad", "swg", "mvau", "th"]
    assert costs["pad"] == E.estimate("FMPadding1D", channels=8, img_dim=50, pad=(1, 1), bits=4)
    assert costs["swg"] == E.estimate("ConvolutionInputGenerator1D", channels=8, kernel=3, ofm_dim=50, bits=4)
    assert costs["mvau"] == E.estimate("MVAU", mw=24, mh=16, pe=2, simd=8, frames=50, weight_bits=4, in_bits=4, out_bits=10,
                                   acc_bits=10, no_activation=True)
    assert costs["mvau"].cycles == 50 * 8 * 3
    # all-zero thresholds are stored in the narrowest signed type, 2 bits
    assert costs["th"] == E.estimate("Thresholding", channels=16, frames=50, in_bits=10, out_bits=2, pe=4, levels=3, thr_bits=2)
    tot = E.total(costs)
    assert tot.cycles == max(c.cycles for c in costs.values())
    assert tot.lut == sum(c.lut for c in costs.values())


def test_estimate_graph_applies_calibration():
    m = _graph()
    cal = Calibration({"MVAU": {"lut": Factor(2.0, 3, ("vivado",)), "cycles": Factor(1.1, 3, ("cyclesim",))}})
    raw, cal_costs = E.estimate_graph(m), E.estimate_graph(m, calibration=cal)
    assert cal_costs["mvau"].lut == pytest.approx(2 * raw["mvau"].lut)
    assert cal_costs["mvau"].cycles == pytest.approx(1.1 * raw["mvau"].cycles)
    assert cal_costs["mvau"].bram18 == raw["mvau"].bram18 and cal_costs["th"] == raw["th"]


def test_estimate_graph_names_a_bad_node():
    m = _graph()
    m.graph.node[2].op_type = "Softmax"
    with pytest.raises(FlowError, match=r"mvau \(Softmax\): no cost model"):
        E.estimate_graph(m)
    m = _graph()
    for a in m.graph.node[2].attribute:
        if a.name == "PE":
            a.i = 5
    with pytest.raises(FlowError, match=r"mvau \(MVAU\): PE 5 does not divide MH 16"):
        E.estimate_graph(m)


def test_threshold_styles_hand_computed():
    # 15 levels of 10-bit thresholds on a 12-bit value, PE 2, 8 channel groups
    par = R.threshold_unit(pe=2, folds=8, levels=15, value_bits=12, thr_bits=10, style="parallel")
    assert par.logic_lut == 2 * 15 * 12                       # a comparator per level and lane
    assert par.mem_lut == R.lutram_luts(2 * 15 * 10, 8) == 300  # 300 bits wide, 8 deep: one LUT6 per bit
    srch = R.threshold_unit(pe=2, folds=8, levels=15, value_bits=12, thr_bits=10, style="search")
    assert R.search_stages(15) == 4 and R.search_stages(16) == 5 and R.search_stages(1) == 1
    assert srch.logic_lut == 2 * 4 * (12 + 4)                 # one comparator and count bits per stage
    # stage s holds 8·2^s thresholds of 2 lanes × 10 bits: depths 8, 16, 32, 64, all LUTRAM
    assert srch.mem_lut == sum(R.lutram_luts(20, 8 << s) for s in range(4)) == 20 * (1 + 1 + 1 + 1)
    assert srch.bram18 == 0
    deep = R.threshold_unit(pe=1, folds=96, levels=15, value_bits=12, thr_bits=10, style="search")
    assert deep.bram18 == 3 and deep.mem_lut == R.lutram_luts(10, 96)  # 192, 384, 768 deep → BRAM
    with pytest.raises(ValueError, match="threshold style"):
        R.threshold_unit(pe=1, folds=1, levels=3, value_bits=4, thr_bits=4, style="linear")


def test_sliding_window_taps_per_beat():
    p = dict(channels=96, kernel=25, ofm_dim=1400, bits=4, simd=4)
    one, five = E.estimate("ConvolutionInputGenerator1D", **p), E.estimate("ConvolutionInputGenerator1D", **p, taps=5)
    assert one.cycles == 25 * 24 + 1400 * 25 * 24
    assert five.cycles == 25 * 24 + 1400 * 5 * 24             # K/taps beats per channel group
    assert five.lut > one.lut
    with pytest.raises(ValueError, match="TapsPerBeat 4 does not divide"):
        E.estimate("ConvolutionInputGenerator1D", **p, taps=4)
