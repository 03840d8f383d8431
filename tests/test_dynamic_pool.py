"""Dynamic pooling: float layer, fixed-point layer, integer reference, golden op, model wiring."""
import numpy as np
import pytest
import torch
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.custom_op.registry import getCustomOp
from qonnx.util.basic import qonnx_make_model

from flow.basecall.caller import stitch_variable_rate
from flow.data.chunks import write_chunk_dataset
from flow.errors import FlowError
from flow.ir.ops.base import DOMAIN
from flow.ir.reference import dynamic_pool_frames
from flow.nn.config import load_model_spec, parse_model
from flow.nn.dynamic_pool import DynamicPool, dynamic_pool, dynamic_pool_direct, pool_int_torch, truncated_cumsum
from flow.numerics.dynamic_pool import (DynamicPoolFormat, build_luts, choose_format, dynamic_pool_int, format_attributes,
                                        lut_index)
from flow.nn.model import build_model
from flow.train.ctc import ctc_loss
from flow.train.trainer import TrainConfig, train


def _random_inputs(seed, n=3, c=4, t=30, max_move=1.6, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(n, c, t, generator=g, dtype=dtype)
    w = torch.rand(n, t, generator=g, dtype=dtype)
    m = torch.rand(n, t, generator=g, dtype=dtype) * max_move
    m[0, 3:6] = 0.0  # moves of zero and above one (skipped frames) both occur
    return f, w, m


# ---------------------------------------------------------------------------------------
# float semantics


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_equals_direct_formula(seed):
    f, w, m = _random_inputs(seed)
    out, lengths = dynamic_pool(f, w, m)
    p = torch.cumsum(m, -1)
    assert torch.equal(lengths, torch.floor(p[:, -1]).long() + 2)
    assert out.shape[-1] == int(lengths.max())
    torch.testing.assert_close(out, dynamic_pool_direct(f, w, p, out.shape[-1]), rtol=0, atol=1e-12)
    # a static budget: the same frames, cut at Lmax, lengths clipped
    cut, cut_lengths = dynamic_pool(f, w, m, lmax=10)
    torch.testing.assert_close(cut, out[..., :10], rtol=0, atol=0)
    assert torch.equal(cut_lengths, lengths.clamp(max=10))


def test_truncated_cumsum_keeps_the_value_and_cuts_the_gradient():
    m = (torch.rand(2, 45, dtype=torch.float64) * 0.7).requires_grad_()
    p = truncated_cumsum(m, 20)
    assert torch.equal(p, torch.cumsum(m, -1))  # bit-identical forward value
    jac = torch.autograd.functional.jacobian(lambda v: truncated_cumsum(v, 20)[0], m)[:, 0]  # [T, T]
    i, k = torch.meshgrid(torch.arange(45), torch.arange(45), indexing="ij")
    torch.testing.assert_close(jac, ((k <= i) & (k > i - 20)).double(), rtol=0, atol=1e-12)


def test_gradients_numerically_short_sequence():
    """T < 20: the truncation changes nothing, so the gradient is the exact one."""
    f, w, m = _random_inputs(3, n=2, c=3, t=12, max_move=0.9)
    args = tuple(a.clone().requires_grad_() for a in (f, w, m))
    assert torch.autograd.gradcheck(lambda f, w, m: dynamic_pool(f, w, m)[0], args, eps=1e-7, atol=1e-6)


def test_gradients_numerically_with_truncation():
    """T = 45: the gradient equals the numerical one of positions whose moves older than
    20 steps are frozen, i.e. exactly the truncated cumulative sum."""
    f, w, m0 = _random_inputs(4, n=1, c=2, t=45, max_move=0.8)
    width = int(torch.floor(m0.sum())) + 2

    def frozen(m):
        c0 = torch.cumsum(m0, -1)
        far = torch.nn.functional.pad(c0[..., :-20], (20, 0))  # Σ of moves ≤ i−20 at their base values
        recent = torch.cumsum(m, -1) - torch.nn.functional.pad(torch.cumsum(m, -1)[..., :-20], (20, 0))
        return dynamic_pool_direct(f, w, far + recent, width)

    analytic = torch.autograd.functional.jacobian(lambda m: dynamic_pool(f, w, m, lmax=width)[0], m0)
    numeric = torch.zeros_like(analytic)
    eps = 1e-6
    for k in range(m0.shape[-1]):
        d = torch.zeros_like(m0)
        d[0, k] = eps
        numeric[..., 0, k] = (frozen(m0 + d) - frozen(m0 - d)) / (2 * eps)
    torch.testing.assert_close(analytic, numeric, rtol=1e-5, atol=1e-6)
    # and it differs from the untruncated gradient: an early move changes late frames
    full = torch.autograd.functional.jacobian(lambda m: dynamic_pool_direct(f, w, torch.cumsum(m, -1), width), m0)
    assert (full - analytic).abs().max() > 1e-3


def test_mean_pooling_and_striding_are_special_cases():
    k, t = 3, 24
    f = torch.randn(1, 5, t, dtype=torch.float64)
    block_start = (torch.arange(t) % k == 0).double()[None]
    # box mean pooling: a move of 1 at each block start, importance 1/k
    out, lengths = dynamic_pool(f, torch.full((1, t), 1.0 / k, dtype=torch.float64), block_start)
    means = f.reshape(1, 5, t // k, k).mean(-1)
    torch.testing.assert_close(out[..., 1 : 1 + t // k], means)
    assert lengths.item() == t // k + 2 and out[..., 0].abs().max() == 0
    # striding: the same moves, importance 1 at block starts only
    out, _ = dynamic_pool(f, block_start, block_start)
    torch.testing.assert_close(out[..., 1 : 1 + t // k], f[..., ::k])
    # a constant move 1/k (importance 1/k): a mean under a triangular window of 2k−1 samples, stride k
    out, _ = dynamic_pool(f, torch.full((1, t), 1.0 / k, dtype=torch.float64), torch.full((1, t), 1.0 / k, dtype=torch.float64))
    bartlett = torch.tensor([(k - abs(d)) / k**2 for d in range(-(k - 1), k)], dtype=torch.float64)
    conv = torch.nn.functional.conv1d(f.reshape(5, 1, t), bartlett.view(1, 1, -1)).reshape(1, 5, -1)
    # frame j gathers inputs i with i + 1 = jk − (k−1) .. jk + (k−1)
    torch.testing.assert_close(out[..., 1 : t // k], conv[..., ::k][..., : t // k - 1])
    const, _ = dynamic_pool(torch.ones(1, 1, t, dtype=torch.float64), torch.full((1, t), 1.0 / k, dtype=torch.float64),
                            torch.full((1, t), 1.0 / k, dtype=torch.float64))
    torch.testing.assert_close(const[..., 1 : t // k], torch.ones(1, 1, t // k - 1, dtype=torch.float64))


def test_float_layer_renormalises_and_keeps_an_average():
    torch.manual_seed(0)
    layer = DynamicPool(4, 6, 3, norm_target=3.0, frame_stride=2)
    x = torch.randn(3, 4, 90)
    layer.train()
    captured = {}
    layer.register_forward_hook(lambda mod, inp, out: captured.update(lengths=out[1]))
    out, lengths = layer(x)
    # the batch's mean move is 1/norm_target: about T/3 frames per row
    assert abs(float(lengths.float().mean()) - (90 / 3 + 2)) < 3
    assert out.shape[-1] == int(lengths.max())
    assert "move_scale" in layer.state_dict()
    before = float(layer.move_scale)
    with torch.no_grad():
        layer.predictor_bias[1] -= 1.0  # smaller sigmoid → larger renormalisation
    layer(x)
    assert float(layer.move_scale) > before
    (out.sum()).backward()
    assert layer.predictor_out.weight.grad.abs().sum() > 0 and layer.predictor_bias.grad.abs().sum() > 0
    layer.eval()
    out, lengths = layer(x)
    assert out.shape[-1] == 45  # the static budget T // frame_stride
    assert (lengths <= 45).all()


# ---------------------------------------------------------------------------------------
# fixed point


def _quant_layer(seed, c_in=5, c=6, bits=8, norm_target=3.0, frame_stride=2):
    torch.manual_seed(seed)
    layer = DynamicPool(c_in, c, 3, norm_target=norm_target, predictor_channels=8, predictor_kernel=5,
                        weight_bits=bits, act_bits=bits, frame_stride=frame_stride, lut_bits=6)
    with torch.no_grad():  # trained-looking predictor: weights that matter, varied moves
        layer.predictor_out.weight.normal_(0, 0.3)
        for bn in (layer.features[1], layer.predictor[1]):
            bn.weight.normal_(1.0, 0.3)
            bn.bias.normal_(0.2, 0.3)
    layer.train()
    for _ in range(3):  # settle BatchNorm statistics and the move-scale average
        layer(torch.randn(4, c_in, 60))
    return layer.eval()


def _reference_rows(f_int, ab_int, params):
    rows = [dynamic_pool_int(f_int[i].T.numpy(), ab_int[i, 0].numpy(), ab_int[i, 1].numpy(), params.fmt,
                             params.luts, params.thresholds) for i in range(f_int.shape[0])]
    return np.stack([r[0] for r in rows]), np.array([r[1] for r in rows]), np.array([r[2] for r in rows])


@pytest.mark.parametrize("seed,bits,lmax", [(0, 8, None), (1, 6, None), (2, 8, 12), (3, 4, 30)])
def test_quantized_layer_equals_the_integer_reference(seed, bits, lmax):
    layer = _quant_layer(seed, bits=bits)
    x = torch.randn(4, 5, 64, generator=torch.Generator().manual_seed(100 + seed)) * 1.5
    with torch.no_grad():
        res = layer.forward_fixed(x, lmax if lmax is not None else layer.budget(64))
    params = res["params"]
    f_int, ab_int = layer.integer_inputs(x)
    out, count, overflow = _reference_rows(f_int, ab_int, params)
    assert np.array_equal(res["out_int"].numpy(), out.transpose(0, 2, 1))
    assert np.array_equal(res["lengths"].numpy(), count)
    assert np.array_equal(res["overflow"].numpy(), overflow)
    assert torch.equal(res["out"], res["out_int"].float() * layer.out_scale.detach())  # forward value is exact
    assert out.max() > 0
    if lmax == 12:
        assert overflow.all() and (count == 12).all()  # ~21 frames needed, 12 allowed
    # the same format and tables come back from fixed_point_params (what a lowering reads)
    again = layer.fixed_point_params(64, params.fmt.lmax)
    assert again.fmt == params.fmt and np.array_equal(again.luts, params.luts)
    assert np.array_equal(again.thresholds, params.thresholds)


def test_quantized_training_pass_is_exact_and_has_gradients():
    layer = _quant_layer(5).train()
    x = torch.randn(3, 5, 50, generator=torch.Generator().manual_seed(7))
    res = layer.forward_fixed(x)
    params = res["params"]
    f_int, ab_int = layer.integer_inputs(x)
    out, count, _ = _reference_rows(f_int, ab_int, params)  # Lmax here: the largest count possible
    width = res["out_int"].shape[-1]
    assert width == count.max() < params.fmt.lmax
    assert np.array_equal(res["out_int"].numpy(), out.transpose(0, 2, 1)[..., :width])
    assert np.array_equal(res["lengths"].numpy(), count)
    # the straight-through float path tracks the integers to within a few output steps
    step = float(layer.out_scale.detach())
    clipped = res["out_int"] == params.fmt.out_max
    assert ((res["pooled"] - res["out"]).abs()[~clipped].max() / step) < 1
    (res["out"] ** 2).mean().backward()
    for name in ("predictor_out.weight", "predictor_bias", "features.0.weight", "predictor.0.weight", "out_scale"):
        grad = dict(layer.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_integer_paths_agree_on_random_formats():
    """The streaming integers (golden op), the vectorised torch integers (the quantized layer) and
    the float64 reference's direct formulation agree on random formats and data, with thresholds
    1, 2, 3, ... so every accumulator difference would show."""
    rng = np.random.default_rng(0)
    thresholds = np.arange(1, 1 << 12, dtype=np.int64)
    saturated = overflowed = 0
    for _ in range(150):
        f_frac = int(rng.integers(1, 6))
        fmt = DynamicPoolFormat(lmax=int(rng.integers(1, 30)), feature_bits=int(rng.integers(1, 5)),
                                lut_bits=int(rng.integers(2, 7)), a_shift=int(rng.integers(0, 4)),
                                b_shift=int(rng.integers(0, 4)), weight_frac_bits=int(rng.integers(1, 6)),
                                move_frac_bits=f_frac, move_int_bits=int(rng.integers(0, 3)),
                                prod_shift=int(rng.integers(0, f_frac + 3)), acc_bits=int(rng.integers(4, 14)), out_bits=12)
        t, c = int(rng.integers(1, 40)), int(rng.integers(1, 4))
        feats = rng.integers(0, 1 << fmt.feature_bits, size=(t, c))
        reach = 1 << (fmt.lut_bits + 4)
        a, b = rng.integers(-reach, reach, size=t), rng.integers(-reach, reach, size=t)
        luts = np.stack([rng.integers(0, fmt.weight_max + 1, size=fmt.lut_size),
                         rng.integers(0, fmt.move_max + 1, size=fmt.lut_size)])
        if rng.random() < 0.2:
            luts[1] = 0  # all moves zero
        ref, count, overflow = dynamic_pool_int(feats, a, b, fmt, luts, thresholds)
        direct, n_direct, over_direct = dynamic_pool_frames(feats.T[None], a[None], b[None], format_attributes(fmt),
                                                            luts, thresholds)
        assert np.array_equal(direct[0].T, ref) and n_direct[0] == count and over_direct[0] == overflow
        w = torch.from_numpy(luts[0][lut_index(a, fmt.lut_bits, fmt.a_shift)])[None]
        m = torch.from_numpy(luts[1][lut_index(b, fmt.lut_bits, fmt.b_shift)])[None]
        out, n, over, _, _ = pool_int_torch(torch.from_numpy(feats).T[None].contiguous(), w, m, fmt,
                                            torch.from_numpy(thresholds))
        assert np.array_equal(out[0].T.numpy(), ref) and int(n[0]) == count and bool(over[0]) == overflow
        saturated += int(ref.max() == fmt.acc_max)
        overflowed += int(overflow)
    assert saturated > 5 and overflowed > 5  # both limits were exercised


def test_format_choice_from_trained_ranges():
    fmt = choose_format(t_in=4200, feature_bits=8, out_bits=8, acc_scale=(1e-3, 2e-3), acc_bound=(50_000, 100),
                        move_scale=1.4, lmax=2100)
    assert fmt.a_shift == 6 and fmt.b_shift == 0           # |a| ≤ 8/1e-3 = 8000 → 125 bins after >> 6; |b| ≤ 100 fits
    assert fmt.move_int_bits == 1                          # moves up to 1.4
    assert fmt.pos_cap == 2100 << 8 and fmt.pos_cap < 1 << fmt.pos_bits
    luts = build_luts(fmt, (1e-3, 2e-3), 1.4)
    assert luts[0].max() <= fmt.weight_max and luts[1].max() <= fmt.move_max and (np.diff(luts, axis=1) >= 0).all()
    # the accumulator holds the worst frame: every input with a position in [j−1, j+1) at the largest term
    m_min = int(luts[1].min())
    worst = min(4200, ((2 << 8) - 1) // m_min + 1) * ((255 * 255 << 8) >> fmt.prod_shift)
    assert worst <= fmt.acc_max < 2 * worst + 1
    with pytest.raises(ValueError):
        DynamicPoolFormat(**(vars(fmt) | {"move_frac_bits": 0})).check()


# ---------------------------------------------------------------------------------------
# the golden op


def _graph(n, t, c, fmt, luts, thresholds, pe=1):
    node = helper.make_node("DynamicPool", ["feats", "ab", "luts", "thr"], ["frames", "count", "overflow"], domain=DOMAIN,
                            name="DynamicPool_0", NumChannels=c, PE=pe, numInputVectors=[n, t], predDataType="INT24",
                            **format_attributes(fmt))
    info = lambda name, shape: helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)  # noqa: E731
    graph = helper.make_graph([node], "dynamic_pool", [info("feats", [n, t, c]), info("ab", [n, t, 2])],
                              [info("frames", [n, fmt.lmax, c]), info("count", [n]), info("overflow", [n])])
    model = ModelWrapper(qonnx_make_model(graph, producer_name="test"))
    model.model.opset_import.append(helper.make_opsetid(DOMAIN, 1))
    thr = np.broadcast_to(np.asarray(thresholds), (c, np.asarray(thresholds).shape[-1]))
    model.set_initializer("luts", np.asarray(luts).astype(np.float64))
    model.set_initializer("thr", thr.astype(np.float64))
    model.set_tensor_datatype("feats", DataType[f"UINT{fmt.feature_bits}"])
    model.set_tensor_datatype("ab", DataType["INT24"])
    getCustomOp(model.graph.node[0]).infer_node_datatype(model)  # output data types, as a lowering annotates them
    return model


def _run(model, feats, ab):
    out = execute_onnx(model, {"feats": feats.astype(np.float32), "ab": ab.astype(np.float32)})
    return out["frames"].astype(np.int64), out["count"].astype(np.int64), out["overflow"].astype(np.int64)


def test_golden_op_equals_the_quantized_layer():
    layer = _quant_layer(11)
    x = torch.randn(3, 5, 40, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        res = layer.forward_fixed(x, 20)
    params = res["params"]
    f_int, ab_int = layer.integer_inputs(x)
    model = _graph(3, 40, 6, params.fmt, params.luts, params.thresholds, pe=2)
    assert model.graph.node[0].op_type == "DynamicPool"
    frames, count, overflow = _run(model, f_int.permute(0, 2, 1).numpy(), ab_int.permute(0, 2, 1).numpy())
    assert np.array_equal(frames, res["out_int"].permute(0, 2, 1).numpy())
    assert np.array_equal(count, res["lengths"].numpy()) and np.array_equal(overflow, res["overflow"].numpy())
    assert model.get_tensor_datatype("overflow") == DataType["BINARY"]


# Hand-made format for the edge cases: 4-bit LUT index (b = index − 8), moves in 1/4 steps,
# thresholds 1, 2, 3, ... so that the output is the accumulator itself (up to 2^16 − 1).
EDGE = DynamicPoolFormat(lmax=12, feature_bits=8, lut_bits=4, a_shift=0, b_shift=0, weight_frac_bits=8,
                         move_frac_bits=2, move_int_bits=2, prod_shift=0, acc_bits=24, out_bits=16)
THR = np.arange(1, 1 << 16, dtype=np.int64)
LUTS = np.stack([np.full(16, 128), np.arange(16) % 16]).astype(np.int64)  # w = 0.5; move index k → k/4


def _edge(feats, move_index, fmt=EDGE, thr=THR, luts=LUTS):
    """Run one chunk through the golden op (streaming) and the float64 reference's direct
    formulation: features [T, C], move table index per step."""
    t, c = feats.shape
    ab = np.stack([np.zeros(t, dtype=np.int64), np.asarray(move_index) - 8], axis=-1)
    frames, count, overflow = _run(_graph(1, t, c, fmt, luts, thr), feats[None], ab[None])
    ref, ref_count, ref_overflow = dynamic_pool_frames(feats.T[None], ab[None, :, 0], ab[None, :, 1],
                                                       format_attributes(fmt), luts, thr)
    assert np.array_equal(frames[0], ref[0].T) and count[0] == ref_count[0] and overflow[0] == ref_overflow[0]
    return frames[0], int(count[0]), int(overflow[0])


def _level(acc, step=1, top=(1 << 16) - 1):
    return min(acc // step, top)


def test_edge_all_moves_zero():
    feats = np.full((7, 3), 10, dtype=np.int64)
    frames, count, overflow = _edge(feats, [0] * 7)
    assert count == 2 and overflow == 0                        # everything stays at position 0
    assert (frames[0] == 7 * 128 * 10 * 4).all()               # w·f·(2^F − 0), seven times
    assert (frames[1:] == 0).all()


def test_edge_moves_above_one_skip_frames():
    feats = np.array([[100], [60], [40]], dtype=np.int64)
    frames, count, overflow = _edge(feats, [10, 10, 10])       # move 2.5: positions 2.5, 5.0, 7.5
    assert count == 9 and overflow == 0
    expect = np.zeros(12, dtype=np.int64)
    expect[2], expect[3] = _level(128 * 100 * 2), _level(128 * 100 * 2)
    expect[5] = _level(128 * 60 * 4)
    expect[7], expect[8] = _level(128 * 40 * 2), _level(128 * 40 * 2)
    assert np.array_equal(frames[:, 0], expect)                 # frames 0, 1, 4, 6 skipped: zeros


def test_edge_overflow_saturates_and_flags():
    feats = (np.arange(20, dtype=np.int64)[:, None] * 10 + 10) * np.ones((1, 2), dtype=np.int64)
    fmt = DynamicPoolFormat(**(vars(EDGE) | {"lmax": 4}))
    frames, count, overflow = _edge(feats, [4] * 20, fmt=fmt)   # move 1: positions 1 .. 20, budget 4
    assert count == 4 and overflow == 1
    assert (frames[0] == 0).all()
    assert np.array_equal(frames[1:, 0], [_level(128 * f * 4) for f in (10, 20, 30)])
    # the position register stops at Lmax·2^F: wide enough, never wraps
    assert fmt.pos_cap == 4 << 2 and fmt.pos_cap < 1 << fmt.pos_bits


def test_edge_maximum_features_and_weights_saturate_the_accumulator():
    fmt = DynamicPoolFormat(**(vars(EDGE) | {"acc_bits": 18, "out_bits": 8}))
    thr = np.arange(1, 256, dtype=np.int64) * 1024            # output = ⌊acc / 1024⌋
    feats = np.full((30, 4), 255, dtype=np.int64)
    luts = np.stack([np.full(16, fmt.weight_max), np.arange(16)]).astype(np.int64)
    frames, count, overflow = _edge(feats, [1] * 30, fmt=fmt, luts=luts, thr=thr)  # move 1/4: 4 inputs per frame
    assert count == 9 and overflow == 0
    # 255·255·(4 − φ) per step; frames 0..7 collect ≥ 6 quarter-weights: the 18-bit accumulator caps them
    assert (frames[:8] == 255).all() and fmt.acc_max // 1024 == 255
    assert (frames[8] == (255 * 255 * 3) // 1024).all()        # the last frame: φ = 1, 2 → 3 quarter-weights
    assert (frames[9:] == 0).all()
    with pytest.raises(ValueError, match="outside"):  # one beyond the feature type is refused
        dynamic_pool_int(np.full((2, 1), 256), [0, 0], [0, 0], fmt, luts, thr)


def test_edge_single_input_frame():
    frames, count, overflow = _edge(np.array([[80, 0]], dtype=np.int64), [1])  # move 1/4
    assert count == 2 and overflow == 0
    assert np.array_equal(frames[:2, 0], [_level(128 * 80 * 3), _level(128 * 80 * 1)])
    assert (frames[:, 1] == 0).all() and (frames[2:] == 0).all()


# ---------------------------------------------------------------------------------------
# model YAML, CTC lengths, training, basecalling


def test_osprey_dp_builds_runs_and_backpropagates():
    spec = load_model_spec("osprey_dp")
    assert any(layer.type == "dynamic_pool" for layer in spec.layers)
    torch.manual_seed(0)
    model = build_model(spec)
    x = torch.randn(2, 1, 600)
    model.train()
    log_probs, lengths = model.forward_with_lengths(x)
    assert log_probs.shape[0] == int(lengths.max()) and 150 < int(lengths.max()) < 300
    log_probs.sum().backward()
    assert model.dynamic_pool.predictor_out.weight.grad.abs().sum() > 0
    model.eval()
    out = model(x)
    assert out.shape == (600 // spec.stride, 2, 5)  # the static budget at inference
    _, lengths = model.forward_with_lengths(x)
    assert (lengths <= 300).all() and (lengths > 150).all()


def test_lengths_follow_later_strides():
    spec = parse_model({"name": "t", "layers": [
        {"type": "dynamic_pool", "channels": 8, "kernel": 3, "norm_target": 2, "predictor_kernel": 3, "predictor_channels": 4},
        {"type": "conv", "channels": 8, "kernel": 5, "stride": 2}]})
    torch.manual_seed(0)
    model = build_model(spec).train()
    pooled = {}
    model.dynamic_pool.register_forward_hook(lambda mod, inp, out: pooled.update(lengths=out[1]))
    logits, lengths = model.logits_and_lengths(torch.randn(3, 1, 100))
    assert torch.equal(lengths, (pooled["lengths"] - 1) // 2 + 1)  # kernel 5, stride 2, 'same' padding
    assert int(lengths.max()) == logits.shape[-1]
    plain = build_model(load_model_spec("osprey_s")).eval()
    x = torch.randn(2, 1, 300)
    out, full = plain.logits_and_lengths(x)
    assert torch.equal(full, torch.tensor([100, 100])) and torch.equal(out, plain.logits(x))


@pytest.mark.parametrize("bad,match", [
    ({"norm_target": 3}, "only apply to dynamic_pool"),
])
def test_dynamic_pool_keys_only_on_dynamic_pool(bad, match):
    with pytest.raises(FlowError, match=match):
        parse_model({"name": "t", "layers": [{"type": "conv", "channels": 4} | bad]}, "m.yaml")


@pytest.mark.parametrize("layer,match", [
    ({"stride": 4, "norm_target": 3}, "below the frame budget"),
    ({"norm_target": 0.5}, "norm_target"),
    ({"predictor_kernel": 4}, "odd"),
    ({"weight_bits": None}, "quantized"),
    ({"groups": 2}, "no groups"),
])
def test_bad_dynamic_pool_layers(layer, match):
    raw = {"type": "dynamic_pool", "channels": 4, "kernel": 3} | layer
    with pytest.raises(FlowError, match=match):
        parse_model({"name": "t", "layers": [raw]}, "m.yaml")


def test_one_dynamic_pool_per_model():
    with pytest.raises(FlowError, match="at most one"):
        parse_model({"name": "t", "layers": [{"type": "dynamic_pool", "channels": 4}] * 2}, "m.yaml")


def _ctc_nll(log_probs: np.ndarray, labels: list[int]) -> float:
    """−log p(labels | frames) by the CTC forward recursion (Graves 2006), float64: log_probs [T, C]."""
    ext = [0]
    for label in labels:
        ext += [label, 0]  # blank, l1, blank, l2, ..., blank
    alpha = np.full(len(ext), -np.inf)
    alpha[:2] = log_probs[0, ext[:2]]
    for t in range(1, len(log_probs)):
        prev = alpha.copy()
        for s in range(len(ext)):
            paths = [prev[s]] + ([prev[s - 1]] if s >= 1 else [])
            if s >= 2 and ext[s] != 0 and ext[s] != ext[s - 2]:
                paths.append(prev[s - 2])  # skip the blank between two different labels
            alpha[s] = np.logaddexp.reduce(paths) + log_probs[t, ext[s]]
    return -float(np.logaddexp(alpha[-1], alpha[-2]))


def _expected_ctc(log_probs: torch.Tensor, y, y_len, frames) -> dict[str, float]:
    """The documented loss from its definition: CTC per row over its valid frames, divided by the
    label length and averaged over rows (torch's reduction="mean"); smoothing = −Σ over valid frames
    of log p · prior (blank 0.4, the four bases 0.1/4 each) / (valid frames · classes)."""
    lp = log_probs.double().numpy()
    rows = range(lp.shape[1])
    ctc = np.mean([_ctc_nll(lp[: frames[n], n], y[n, : y_len[n]].tolist()) / int(y_len[n]) for n in rows])
    prior = np.array([0.4, 0.025, 0.025, 0.025, 0.025])
    smooth = -sum(float((lp[: frames[n], n] @ prior).sum()) for n in rows) / (sum(int(frames[n]) for n in rows) * 5)
    return {"ctc": ctc, "smooth": smooth, "total": ctc + smooth}


def test_ctc_ignores_padded_frames():
    torch.manual_seed(0)
    log_probs = torch.log_softmax(torch.randn(30, 2, 5), -1)
    y, y_len = torch.tensor([[1, 2, 3], [2, 2, 4]]), torch.tensor([3, 3])
    # fixed-rate models (no lengths: every frame counts) and explicit full lengths give the loss
    # of its definition, computed independently here
    for lengths in (None, torch.tensor([30, 30])):
        got = ctc_loss(log_probs, y, y_len, lengths)
        for key, value in _expected_ctc(log_probs, y, y_len, [30, 30]).items():
            assert float(got[key]) == pytest.approx(value, rel=1e-5), key
    short = torch.tensor([20, 25])
    got = ctc_loss(log_probs, y, y_len, short)
    for key, value in _expected_ctc(log_probs, y, y_len, [20, 25]).items():
        assert float(got[key]) == pytest.approx(value, rel=1e-5), key
    # what lies past a row's length changes nothing
    garbage = log_probs.clone()
    garbage[20:, 0] = torch.log_softmax(torch.randn(10, 5), -1)
    garbage[25:, 1] = torch.log_softmax(torch.randn(5, 5), -1)
    c, d = ctc_loss(log_probs, y, y_len, short), ctc_loss(garbage, y, y_len, short)
    assert all(torch.allclose(c[k], d[k]) for k in c)


def test_osprey_dp_trains_two_steps(tmp_path):
    rng = np.random.default_rng(0)
    chunks = [rng.normal(size=600).astype(np.float32) for _ in range(12)]
    refs = [rng.integers(1, 5, size=60).astype(np.uint8) for _ in range(12)]
    write_chunk_dataset(tmp_path / "ds", chunks, refs)
    cfg = TrainConfig(epochs=1, batch_size=4, max_steps=2, valid_chunks=4, warmup_steps=1, threads=1, log_every=1)
    final = train(load_model_spec("osprey_dp"), tmp_path / "ds", tmp_path / "run", cfg)
    blob = torch.load(final, weights_only=True)
    assert blob["meta"]["steps"] == 2
    key = next(k for k in blob["state_dict"] if k.endswith("move_scale"))
    assert float(blob["state_dict"][key]) != 1.0  # the move-scale average moved with the batches
    rows = (tmp_path / "run" / "train_log.csv").read_text().splitlines()
    assert len(rows) == 3 and "nan" not in rows[-1]


def test_variable_rate_stitching():
    # two chunks of 100 samples overlapping by 40; chunk 0 at 1/2 frame per sample, chunk 1 at 1/4
    scores = np.zeros((2, 60, 1))
    scores[0, :50, 0] = np.arange(50)
    scores[1, :25, 0] = 1000 + np.arange(25)
    out = stitch_variable_rate(scores, np.array([50, 25]), np.array([0, 60]), 160, 100)
    # the split is at sample 80: chunk 0 keeps samples 0..79 (frames 0..39), chunk 1 samples 80..159 (frames 5..24)
    assert np.array_equal(out[:, 0], np.concatenate([np.arange(40), 1000 + np.arange(5, 25)]))
