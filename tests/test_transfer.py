"""Weight transfer: a narrower, shallower or smaller-kernel model inherits a trained model's weights (`--init-slice`)."""
import pytest
import torch

from flow.cli import main
from flow.errors import FlowError
from flow.nn.config import parse_model
from flow.nn.model import build_model
from flow.nn.transfer import sliced_weights

STEM = {"type": "conv", "channels": 4, "kernel": 9, "stride": 3, "weight_bits": 8, "act_bits": 6}
WIDE = {"name": "wide", "layers": [
    STEM,
    {"type": "separable", "channels": 6, "kernel": 7, "groups": "depthwise", "weight_bits": 6, "act_bits": 4},
    {"type": "separable", "channels": 6, "kernel": 5, "groups": "depthwise", "weight_bits": 4, "act_bits": 4},
    {"type": "conv", "channels": 5, "kernel": 3, "weight_bits": 4, "act_bits": 4},
]}
# narrower, smaller kernels, fewer bits, and layer 2 a conv where the source has a separable layer
NARROW = {"name": "narrow", "layers": [
    STEM,
    {"type": "separable", "channels": 3, "kernel": 3, "groups": "depthwise", "weight_bits": 2, "act_bits": 2},
    {"type": "conv", "channels": 3, "kernel": 3, "weight_bits": 3, "act_bits": 3},
]}


def numbered(spec: dict):
    """A model whose every float tensor holds distinct numbers, so a wrong index shows."""
    model = build_model(parse_model(spec))
    with torch.no_grad():
        for i, t in enumerate(model.state_dict().values()):
            if t.is_floating_point():
                t.copy_(torch.arange(t.numel(), dtype=t.dtype).reshape(t.shape) + 1000 * i)
    return model


def test_a_narrower_model_takes_the_leading_channels_and_centre_taps_by_hand():
    wide = numbered(WIDE)
    theirs = wide.state_dict()
    torch.manual_seed(0)
    ours = sliced_weights(parse_model(NARROW), wide)
    torch.manual_seed(0)
    fresh = build_model(parse_model(NARROW)).state_dict()
    dw, src_dw = ours["encoder.1.body.0.grouped.weight"], theirs["encoder.1.body.0.grouped.weight"]
    assert dw.shape == (4, 1, 3)  # depthwise over the stem's 4 channels
    for c in range(4):  # kernel 3 inside kernel 7: source taps 2, 3, 4
        for t in range(3):
            assert dw[c, 0, t] == src_dw[c, 0, t + 2]
    pw, src_pw = ours["encoder.1.body.0.pointwise.weight"], theirs["encoder.1.body.0.pointwise.weight"]
    assert pw.shape == (3, 4, 1)
    for o in range(3):
        for i in range(4):
            assert pw[o, i, 0] == src_pw[o, i, 0]
    for name in ("weight", "bias", "running_mean", "running_var"):
        key = f"encoder.1.body.0.bn.{name}"
        assert [float(v) for v in ours[key]] == [float(theirs[key][c]) for c in range(3)]
    # the stem is the same shape: taken whole; a learned range is copied as it is
    assert torch.equal(ours["encoder.0.0.weight"], theirs["encoder.0.0.weight"])
    act = "encoder.1.body.0.act.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value"
    assert float(ours[act]) == float(theirs[act])
    # layer 2 is a conv here and separable there: no tensor of it shares a name, so it keeps its initial weights
    assert torch.equal(ours["encoder.2.0.weight"], fresh["encoder.2.0.weight"])
    assert "encoder.2.0.weight" not in theirs
    build_model(parse_model(NARROW)).load_state_dict(ours)  # a complete state dict of the target


def test_a_wider_target_or_larger_kernel_is_refused():
    narrow = numbered(NARROW)
    with pytest.raises(FlowError, match="no weight of the initial model fits wide"):
        sliced_weights(parse_model(WIDE | {"layers": [STEM | {"channels": 8}] + WIDE["layers"][1:]}), narrow)


def test_init_slice_needs_init(tmp_path, capsys):
    (tmp_path / "m.yaml").write_text("name: m\nlayers:\n  - {type: conv, channels: 4, kernel: 9, stride: 3}\n")
    assert main(["train", str(tmp_path / "m.yaml"), str(tmp_path), "-o", str(tmp_path / "out"), "--init-slice"]) != 0
    assert "--init-slice needs --init" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_train_init_slice_starts_from_the_slices(tmp_path):
    """`rubicon train --init WIDE --init-slice` at learning rate 0: the saved convolution weights are
    the wide model's slices, taken by hand (the normalisation statistics still move in one step)."""
    import numpy as np
    import yaml

    from flow.data.chunks import write_chunk_dataset
    from flow.nn.checkpoint import load_model, save_model

    torch.manual_seed(1)
    wide = build_model(parse_model(WIDE))  # trainable weights (the numbered ones overflow the loss)
    save_model(wide, tmp_path / "wide.pt")
    (tmp_path / "narrow.yaml").write_text(yaml.safe_dump(NARROW))
    rng = np.random.default_rng(0)
    write_chunk_dataset(tmp_path / "ds", [rng.normal(size=600).astype(np.float32) for _ in range(20)],
                        [rng.integers(1, 5, size=20).astype(np.uint8) for _ in range(20)])
    assert main(["train", str(tmp_path / "narrow.yaml"), str(tmp_path / "ds"), "-o", str(tmp_path / "out"),
                 "--init", str(tmp_path / "wide.pt"), "--init-slice", "--lr", "0", "--max-steps", "1",
                 "--batch-size", "2", "--valid-chunks", "2", "--threads", "1"]) == 0
    trained = load_model(str(tmp_path / "out" / "model.pt"))[0].state_dict()
    src = wide.state_dict()["encoder.1.body.0.grouped.weight"]
    assert torch.equal(trained["encoder.1.body.0.grouped.weight"], src[:, :, 2:5])
    assert torch.equal(trained["encoder.1.body.0.pointwise.weight"], wide.state_dict()["encoder.1.body.0.pointwise.weight"][:3])
