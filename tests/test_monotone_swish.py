"""The quantized swish: swish held at its minimum below x₀, so thresholds implement it; it lowers to
integer thresholds that agree with an independent float64 evaluation of the exported graph."""
import math

import numpy as np
import pytest
import torch

from flow.errors import FlowError
from flow.export.qonnx_export import export_model
from flow.ir.lower import lower_qonnx
from flow.ir.verify import prove_equivalence
from flow.nn.config import parse_model
from flow.nn.layers import MonotoneSwish
from flow.nn.model import build_model
from flow.numerics.activation import SWISH_ARGMIN

Q = {"weight_bits": 8, "act_bits": 6, "activation": "swish"}
SPEC = {"name": "tiny_swish", "input": {"act_bits": 8}, "head": {"classes": 5, "weight_bits": 8}, "layers": [
    {"type": "conv", "channels": 8, "kernel": 9, "stride": 3, **Q},
    {"type": "separable", "channels": 8, "kernel": 5, "groups": "depthwise", "repeat": 2, "residual": True, **Q},
    {"type": "conv", "channels": 6, "kernel": 3, **Q}]}


def test_x0_is_the_minimum_of_swish():
    s = 1 / (1 + math.exp(-SWISH_ARGMIN))
    assert abs(s * (1 + SWISH_ARGMIN * (1 - s))) < 1e-12          # d/dx x·σ(x) = σ(x)(1 + x(1 − σ(x))) = 0
    assert SWISH_ARGMIN * s == pytest.approx(-0.278464542761074, abs=1e-12)


def test_monotone_swish_is_swish_above_x0_and_flat_below():
    x = torch.linspace(-8, 8, 2001, dtype=torch.float64)
    y = MonotoneSwish()(x)
    assert torch.all(y[1:] >= y[:-1])
    above = x >= SWISH_ARGMIN
    assert torch.allclose(y[above], x[above] * torch.sigmoid(x[above]))
    floor = torch.tensor(SWISH_ARGMIN, dtype=torch.float64)
    assert torch.all(y[~above] == floor * torch.sigmoid(floor))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(1)
    model = build_model(parse_model(SPEC)).eval()
    with torch.no_grad():  # spread the BatchNorm outputs over both sides of x₀
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.2, 2), m.bias.uniform_(-1, 1)
    return model, export_model(model, tmp_path_factory.mktemp("swish") / "m.onnx", 312)


def test_quantized_swish_lowers_bit_exact(exported):
    model, graph = exported
    ops = {n.op_type for n in graph.graph.node}
    assert {"Clip", "Sigmoid", "Mul"} <= ops
    dataflow = lower_qonnx(graph)
    assert not {"Clip", "Sigmoid", "Mul"} & {n.op_type for n in dataflow.graph.node}
    chunks = np.random.default_rng(0).normal(size=(6, 312)).astype(np.float32) * 1.5
    chunks[0] = 0.0
    chunks[1] = np.linspace(-8, 8, 312)
    proof = prove_equivalence(model, graph, dataflow, chunks)
    assert proof.exact and proof.mismatched_elements == 0 and proof.elements_compared > 30_000


def test_a_clip_below_the_minimum_is_refused(exported):
    from qonnx.core.modelwrapper import ModelWrapper

    graph = ModelWrapper(exported[1].model.__deepcopy__())
    clip = next(n for n in graph.graph.node if n.op_type == "Clip")
    graph.set_initializer(clip.input[1], np.array(-3.0, dtype=np.float32))
    with pytest.raises(FlowError, match=rf"{clip.name} \(Clip\): the lowering takes a Clip only as the monotone swish"):
        lower_qonnx(graph)
