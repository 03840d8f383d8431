"""RTL twins of the stream ops (hls/rtl/fmpadding.sv, swg.sv, streams.sv) under Verilator and Yosys:
every output element equal to the op's golden execution (random values and the type's edges), with
and without random stalls; cycles without stalls against the op's cycle model (Op.estimate).
Cases the whole-accelerator co-simulation (tests/test_rtlsim.py) also covers run under `slow` only."""
import numpy as np
import pytest
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp

from flow.sim.rtl_op import synthesize
from test_rtl_ops import check_twin, single_node


def edgy(rng, shape, dtype: str) -> np.ndarray:
    """Random values of `dtype` over its whole range, with the first frames the edges: the most
    negative, the most positive, zero, then both edges alternating across the channels."""
    dt = DataType[dtype]
    lo, hi = int(dt.min()), int(dt.max())
    x = rng.integers(lo, hi + 1, size=shape)
    x[:, 0], x[:, 1], x[:, 2] = lo, hi, 0
    x[:, 3, 0::2], x[:, 3, 1::2] = lo, hi
    return x


def model_cycles(node, model) -> int:
    op = getCustomOp(node)
    return op.estimate(**op.cost_params(model)).cycles


def close(twin: int, model: int) -> bool:
    return abs(twin - model) <= 0.02 * model


# ------------------------------------------------------------------ FMPadding1D
CHUNKS = 2  # two chunks back to back: the state must come back to the chunk start, pads and all


def padding(t, c, simd, pad, dtype, n=1):
    return single_node("FMPadding1D", [[n, t, c]], [[n, t + sum(pad), c]], [dtype], [dtype], Pad=list(pad),
                       NumChannels=c, ImgDim=t, SIMD=simd, inputDataType=dtype, outputDataType=dtype,
                       numInputVectors=[n, t])


@pytest.mark.parametrize("t, c, simd, pad, dtype", [
    pytest.param(20, 6, 2, (2, 1), "INT4", marks=pytest.mark.slow),  # in the whole-accelerator test by default
    pytest.param(40, 5, 5, (0, 3), "UINT8", marks=pytest.mark.slow),
    pytest.param(24, 3, 1, (3, 0), "INT2", marks=pytest.mark.slow),
])
def test_fmpadding_twin(tmp_path, t, c, simd, pad, dtype):
    model, node = padding(t, c, simd, pad, dtype, CHUNKS)
    x = edgy(np.random.default_rng(1), (CHUNKS, t, c), dtype)
    free, stalled = check_twin(model, node, [x], tmp_path)
    fold = c // simd
    # One beat per cycle, the model's (L + T + R)·C/SIMD per chunk; but the first chunk's left pad
    # leaves before the first input handshake (the twin emits it from reset, as the C++ steps do),
    # and the harness counts from that handshake: L·C/SIMD cycles less than the chunks' total.
    assert model_cycles(node, model) == (sum(pad) + t) * fold
    assert free.cycles == (CHUNKS * (sum(pad) + t) - pad[0]) * fold and free.latency == -pad[0] * fold
    assert stalled.cycles > free.cycles


# ------------------------------------------------------------------ ConvolutionInputGenerator1D
def window(c, simd, k, s, d, t_in, depthwise, taps, dtype, n=1):
    t_out = (t_in - ((k - 1) * d + 1)) // s + 1
    return single_node("ConvolutionInputGenerator1D", [[n, t_in, c]], [[n, t_out, k * c]], [dtype], [dtype],
                       ConvKernelDim=k, IFMChannels=c, IFMDim=t_in, OFMDim=t_out, Stride=s, Dilation=d, SIMD=simd,
                       depthwise=depthwise, TapsPerBeat=taps, inputDataType=dtype, outputDataType=dtype,
                       numInputVectors=[n, t_in])


def swg_cycles(c, simd, k, s, d, t_in, taps) -> int:
    """The twin's cycles from the first input beat to the last window beat, by hand from swg.h's
    step: the first SPAN frames stream in (SPAN·F cycles, F = C/SIMD), then each window takes
    (K/TAPS)·F write cycles while up to S frames of reads run beside it. The reads stay ahead
    when K/TAPS ≥ S (writes bound: SPAN·F + T_OUT·(K/TAPS)·F, the model's figure). Otherwise the
    reads bound: the last window's frame is in after (SPAN + (T_OUT − 1)·S)·F cycles and its
    (K/TAPS)·F beats follow, (S − K/TAPS)·F fewer than the model's SPAN·F + T_OUT·S·F."""
    f, span = c // simd, (k - 1) * d + 1
    t_out = (t_in - span) // s + 1
    if k // taps >= s:
        return span * f + t_out * (k // taps) * f
    return (span + (t_out - 1) * s) * f + (k // taps) * f


@pytest.mark.parametrize("c, simd, k, s, d, t_in, depthwise, taps, dtype", [
    pytest.param(4, 2, 3, 1, 1, 34, 0, 1, "INT4", marks=pytest.mark.slow),  # dense: taps outer, groups inner
    (6, 2, 3, 2, 2, 35, 1, 3, "INT3"),        # depthwise, all taps in one beat, stride and dilation 2
    pytest.param(3, 1, 3, 2, 2, 40, 0, 1, "UINT4", marks=pytest.mark.slow),   # dense, stride 2 (one frame left over)
    pytest.param(4, 2, 4, 1, 1, 30, 1, 2, "INT8", marks=pytest.mark.slow),    # depthwise, 2 blocks of 2 taps
    pytest.param(6, 3, 3, 1, 2, 30, 1, 1, "INT4", marks=pytest.mark.slow),    # depthwise, a tap per beat
    pytest.param(4, 4, 5, 1, 1, 30, 0, 1, "INT2", marks=pytest.mark.slow),    # dense, one group per frame
])
def test_swg_twin(tmp_path, c, simd, k, s, d, t_in, depthwise, taps, dtype):
    model, node = window(c, simd, k, s, d, t_in, depthwise, taps, dtype, CHUNKS)
    x = edgy(np.random.default_rng(2), (CHUNKS, t_in, c), dtype)
    free, stalled = check_twin(model, node, [x], tmp_path)
    # a chunk's reads start the cycle after the last chunk's last window beat (its last step resets)
    assert free.cycles == CHUNKS * swg_cycles(c, simd, k, s, d, t_in, taps)
    if k // taps >= s:  # writes bound: the model's figure; reads bound: the model counts (S - K/TAPS)·F more
        assert close(free.cycles, CHUNKS * model_cycles(node, model))
    assert stalled.cycles > free.cycles


# ------------------------------------------------------------------ DuplicateStreams, AddStreams
@pytest.mark.parametrize("t, c, pe, dtype", [
    pytest.param(24, 8, 4, "INT8", marks=pytest.mark.slow),
    pytest.param(16, 3, 1, "UINT3", marks=pytest.mark.slow),
])
def test_duplicate_streams_twin(tmp_path, t, c, pe, dtype):
    model, node = single_node("DuplicateStreams", [[1, t, c]], [[1, t, c], [1, t, c]], [dtype], [dtype, dtype],
                              NumChannels=c, PE=pe, inputDataType=dtype, outputDataType=dtype, numInputVectors=[1, t])
    x = edgy(np.random.default_rng(3), (1, t, c), dtype)
    free, stalled = check_twin(model, node, [x], tmp_path)
    assert free.cycles == model_cycles(node, model) == t * c // pe and free.latency == 0  # a beat per cycle, no register
    assert stalled.cycles > free.cycles


@pytest.mark.parametrize("t, c, pe, types, out", [
    pytest.param(20, 6, 3, ("INT4", "UINT3"), "INT5", marks=pytest.mark.slow),  # signed + unsigned: sign- and zero-extension
    pytest.param(16, 4, 4, ("UINT4", "UINT4"), "UINT5", marks=pytest.mark.slow),
    pytest.param(12, 5, 1, ("INT8", "INT2"), "INT9", marks=pytest.mark.slow),
])
def test_add_streams_twin(tmp_path, t, c, pe, types, out):
    model, node = single_node("AddStreams", [[1, t, c], [1, t, c]], [[1, t, c]], list(types), [out], NumChannels=c,
                              PE=pe, inputDataType=types[0], outputDataType=out, numInputVectors=[1, t])
    rng = np.random.default_rng(4)
    a, b = edgy(rng, (1, t, c), types[0]), edgy(rng, (1, t, c), types[1])
    b[:, 4] = DataType[types[1]].max()  # frame 4: random a plus b's most positive; frames 0..3 edge plus edge
    free, stalled = check_twin(model, node, [a, b], tmp_path)
    assert free.cycles == model_cycles(node, model) == t * c // pe and free.latency == 0
    assert stalled.cycles > free.cycles


# ------------------------------------------------------------------ StreamingDataWidthConverter
@pytest.mark.parametrize("t, c, inw, outw, dtype", [
    pytest.param(20, 12, 2, 6, "INT4", marks=pytest.mark.slow),  # up: three beats in, one out
    pytest.param(20, 12, 6, 4, "INT5", marks=pytest.mark.slow),   # down, 3 : 2 (a beat out straddles two in)
    pytest.param(16, 8, 8, 1, "UINT2", marks=pytest.mark.slow),   # down to one element
    pytest.param(16, 6, 3, 3, "INT8", marks=pytest.mark.slow),    # equal widths
])
def test_dwc_twin(tmp_path, t, c, inw, outw, dtype):
    model, node = single_node("StreamingDataWidthConverter", [[1, t, c]], [[1, t, c]], [dtype], [dtype],
                              NumChannels=c, inWidth=inw, outWidth=outw, inputDataType=dtype, outputDataType=dtype,
                              numInputVectors=[1, t])
    x = edgy(np.random.default_rng(5), (1, t, c), dtype)
    free, stalled = check_twin(model, node, [x], tmp_path)
    # One beat per cycle on the wider-beat-count side; the buffer is a register, so the first
    # output beat leaves the cycle after the input beats that fill it (up) or the cycle after the
    # first input beat (down, equal): the model's max(T·C/in, T·C/out) plus that one cycle.
    assert free.cycles == model_cycles(node, model) + 1 == max(t * c // inw, t * c // outw) + 1
    assert stalled.cycles > free.cycles


# ------------------------------------------------------------------ Yosys, one small node per op
def test_stream_twins_synthesize(tmp_path):
    """Each twin maps: LUTs and flip-flops where it has state, no DSP (no multiplier anywhere), the
    window's ring in LUTRAM at this size (the figures beside the op's estimate are printed)."""
    nodes = {"fmpadding": padding(20, 6, 2, (2, 1), "INT4"),
             "swg": window(4, 2, 3, 1, 1, 34, 0, 1, "INT4"),
             "duplicate": single_node("DuplicateStreams", [[1, 24, 8]], [[1, 24, 8]] * 2, ["INT8"], ["INT8"] * 2,
                                      NumChannels=8, PE=4, inputDataType="INT8", outputDataType="INT8",
                                      numInputVectors=[1, 24]),
             "add": single_node("AddStreams", [[1, 20, 6]] * 2, [[1, 20, 6]], ["INT4", "UINT3"], ["INT5"],
                                NumChannels=6, PE=3, inputDataType="INT4", outputDataType="INT5",
                                numInputVectors=[1, 20]),
             "dwc": single_node("StreamingDataWidthConverter", [[1, 20, 12]], [[1, 20, 12]], ["INT4"], ["INT4"],
                                NumChannels=12, inWidth=2, outWidth=6, inputDataType="INT4", outputDataType="INT4",
                                numInputVectors=[1, 20])}
    got = {}
    for name, (model, node) in nodes.items():
        op = getCustomOp(node)
        got[name] = synthesize(op.rtl(model), tmp_path / name)
        print(name, got[name], op.estimate(**op.cost_params(model)))
    assert all(f["dsp"] == 0 and f["bram18"] == 0 and f["lut"] > 0 for f in got.values())
    # state: counters (padding), counters and read registers (window), the buffer and its count (DWC)
    assert got["fmpadding"]["ff"] > 0 and got["swg"]["ff"] > 0 and got["dwc"]["ff"] >= (2 + 6) * 4
    # the ring is memory: LUTRAM sites, not a flip-flop per bit (4 slots x 2 groups x 8 bits = 64 bits)
    assert got["swg"]["lut_memory"] > 0 and got["swg"]["ff"] < 64
    # the fork is wires only; the join an adder per lane, no registers
    assert got["duplicate"]["ff"] == 0 and got["add"]["ff"] == 0


@pytest.mark.slow
def test_swg_twin_rings_map_to_block_ram(tmp_path):
    """The ring's read address is a register, so a deep ring is block RAM (2048 words of 8 bits: one
    BRAM18, as the estimate says), and the depthwise banks with several taps per beat are LUTRAM."""
    model, node = window(512, 1, 3, 1, 1, 40, 0, 1, "INT8")
    dense = synthesize(getCustomOp(node).rtl(model), tmp_path / "dense")
    op = getCustomOp(node)
    assert dense["bram18"] == op.estimate(**op.cost_params(model)).bram18 == 1 and dense["dsp"] == 0
    model, node = window(6, 2, 3, 2, 2, 35, 1, 3, "INT3")
    banks = synthesize(getCustomOp(node).rtl(model), tmp_path / "banks")
    assert banks["lut_memory"] > 0 and banks["bram18"] == 0
