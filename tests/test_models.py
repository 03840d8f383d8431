"""Model YAML: every shipped config builds and runs; bad configs give a clear error."""
import pytest
import torch
from brevitas import nn as qnn

from flow.errors import FlowError
from flow.nn.config import load_model_spec, parse_model
from flow.nn.model import build_model, count_parameters
from flow.paths import MODELS_DIR

SHIPPED = sorted(p.stem for p in MODELS_DIR.glob("*.yaml"))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_build_and_run(name):
    spec = load_model_spec(name)
    model = build_model(spec).eval()
    x = torch.randn(2, 1, 1200)
    out = model(x)
    assert out.shape == (1200 // spec.stride, 2, 5)
    assert torch.allclose(out.exp().sum(-1), torch.ones(out.shape[:2]), atol=1e-4)
    assert 10_000 < count_parameters(model) < 400_000  # sized for a 2-core machine and the target boards


def test_three_reference_families_are_shipped():
    assert {"bonito_s", "rubicall_s", "osprey_s"} <= set(SHIPPED)
    rubicall = load_model_spec("rubicall_s")
    assert not any(layer.residual for layer in rubicall.layers)
    assert len({layer.weight_bits for layer in rubicall.layers}) > 1  # mixed precision
    assert any(isinstance(layer.groups, int) and layer.groups > 1 for layer in rubicall.layers)
    assert any(layer.residual for layer in load_model_spec("bonito_s").layers)
    assert any(layer.type == "pool" for layer in load_model_spec("osprey_s").layers)


def _spec(**layer):
    base = {"type": "separable", "channels": 16, "kernel": 5, "groups": "depthwise"}
    return {"name": "t", "layers": [{"type": "conv", "channels": 16, "kernel": 3, "stride": 2}, base | layer]}


def _weight_bits(module) -> list:
    """Weight bit-width of every convolution inside `module` (None for a float one)."""
    return [int(m.quant_weight().bit_width) if isinstance(m, qnn.QuantConv1d) else None
            for m in module.modules() if isinstance(m, torch.nn.Conv1d)]


def _act_bits(module) -> int | None:
    return int(module.act_quant.bit_width()) if isinstance(module, qnn.QuantReLU | qnn.QuantIdentity) else None


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 7, 8, None])
def test_every_bit_width_builds(bits):
    model = build_model(parse_model(_spec(weight_bits=bits, act_bits=bits, repeat=2, residual=True)))
    # layer 1 (two separable blocks of depthwise + pointwise, and the residual skip) takes exactly
    # the requested width in every convolution and every activation quantizer ...
    layer = model.encoder[1]
    assert _weight_bits(layer) == [bits] * 5
    sites = [layer.body[0].mid_quant, layer.body[0].act, layer.body[1].mid_quant, layer.join_quant, layer.act]
    assert [_act_bits(m) for m in sites] == [bits] * 5
    # ... while the input quantizer, the stem (layer 0) and the head keep their default 8 bits
    assert _weight_bits(model.encoder[0]) == [8] and _weight_bits(model.head) == [8]
    assert _act_bits(model.input_quant) == 8 and _act_bits(model.encoder[0][2]) == 8
    assert model(torch.randn(1, 1, 64)).shape == (32, 1, 5)


@pytest.mark.parametrize("bad,match", [
    ({"weight_bits": 9}, "bit-width"),
    ({"act_bits": 1}, "bit-width"),
    ({"type": "lstm"}, "type must be"),
    ({"kernal": 3}, "unknown keys"),
    ({"groups": 0}, "groups"),
])
def test_bad_configs_name_the_layer(bad, match):
    with pytest.raises(FlowError, match=match) as err:
        parse_model(_spec(**bad), "m.yaml")
    assert "m.yaml layer 1" in str(err.value)


def test_unknown_model_lists_the_shipped_ones():
    with pytest.raises(FlowError, match="rubicall_s"):
        load_model_spec("no_such_model")
