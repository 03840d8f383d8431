"""SkipClip: the masked class-axis KD loss against a hand computation, the cut schedule, the
skip-free student (same outputs, no Add in its export, no fork/join in its dataflow graph), and
an interrupted run resuming exactly."""
import math

import numpy as np
import pytest
import torch

from flow.cli import main
from flow.data.chunks import write_chunk_dataset
from flow.errors import FlowError
from flow.nn.checkpoint import load_model, save_model
from flow.nn.config import parse_model
from flow.nn.model import build_model
from flow.skipclip.schedule import SkipSchedule, parse_order
from flow.skipclip.student import default_student, skip_blocks, training_form, without_cut_skips
from flow.train.distill import kd_loss

FLOAT = {"weight_bits": None, "act_bits": None, "activation": "swish"}
TEACHER = {"name": "tiny_teacher", "input": {"act_bits": None}, "head": {"classes": 5, "weight_bits": None, "bias": True},
           "layers": [{"type": "conv", "channels": 8, "kernel": 9, "stride": 3, **FLOAT},
                      {"type": "separable", "channels": 8, "kernel": 5, "groups": "depthwise", "repeat": 2, "residual": True, **FLOAT},
                      {"type": "separable", "channels": 8, "kernel": 3, "groups": "depthwise", "repeat": 2, "residual": True, **FLOAT},
                      {"type": "conv", "channels": 6, "kernel": 3, **FLOAT}]}
CHUNK = 312


def _softmax(row):
    e = [math.exp(v) for v in row]
    return [v / sum(e) for v in e]


def test_kd_loss_by_hand_over_classes_with_padding_masked():
    T = 2.0
    student = [[1.0, 0.0, 0.0], [100.0, -100.0, 0.0]]   # frames × classes; frame 1 is padding
    teacher = [[0.0, 1.0, 0.0], [-100.0, 100.0, 0.0]]
    p = _softmax([v / T for v in teacher[0]])
    q = _softmax([v / T for v in student[0]])
    expected = T * T * sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q))
    s = torch.tensor(student).T[None]  # [N=1, C=3, T=2]
    t = torch.tensor(teacher).T[None]
    got = kd_loss(s, t, T, frames=torch.tensor([1]))
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # without the mask the padded frame dominates: the mask is what keeps it out
    assert kd_loss(s, t, T).item() > 10 * expected


def test_kd_loss_averages_over_valid_frames_of_every_row():
    s, t = torch.randn(2, 5, 6), torch.randn(2, 5, 6)
    frames = torch.tensor([6, 2])
    whole = kd_loss(s[:1], t[:1], 1.5) * 6
    part = kd_loss(s[1:, :, :2], t[1:, :, :2], 1.5) * 2
    assert kd_loss(s, t, 1.5, frames).item() == pytest.approx(((whole + part) / 8).item(), rel=1e-5)


def test_schedule_cuts_one_group_every_stride():
    schedule = SkipSchedule([[1], [4, 2], [3]], stride=10)
    assert [schedule.cut_at(s) for s in (0, 9, 10, 19, 20, 29, 30, 500)] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert schedule.active(0) == [1, 4, 2, 3] and schedule.active(10) == [4, 2, 3] and schedule.active(25) == [3]
    assert schedule.active(30) == [] and schedule.last_cut() == 30
    assert [s for s in range(45) if schedule.validate_at(s)] == [0, 10, 20, 30]


def test_cut_order_parsing():
    assert parse_order("input", [1, 2, 3]) == [[1], [2], [3]]
    assert parse_order("output", [1, 2, 3]) == [[3], [2], [1]]
    assert parse_order("2+3,1", [1, 2, 3]) == [[2, 3], [1]]
    with pytest.raises(FlowError, match=r"skips are at \[1, 2, 3\]"):
        parse_order("1,2", [1, 2, 3])
    with pytest.raises(FlowError, match="use input, output"):
        parse_order("first", [1, 2, 3])


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    return build_model(parse_model(TEACHER)).eval()


def test_default_student_is_the_teacher_layout_without_skips(teacher):
    student = default_student(teacher.spec)
    assert [(l.type, l.channels, l.kernel, l.stride, l.repeat) for l in student.layers] == \
        [(l.type, l.channels, l.kernel, l.stride, l.repeat) for l in teacher.spec.layers]
    assert not any(l.residual for l in student.layers)
    # the teacher's swish stays: quantized, it is the monotone swish (flow.nn.layers)
    assert {(l.weight_bits, l.act_bits, l.activation) for l in student.layers} == {(8, 8, "swish")}
    assert student.input_bits == 8 and student.head_weight_bits == 8 and not student.head_bias
    assert skip_blocks(build_model(training_form(student, teacher.spec))) == [1, 2]


def test_student_layers_must_pair_with_the_teacher(teacher):
    spec = default_student(teacher.spec)
    spec.layers[2].kernel = 7
    with pytest.raises(FlowError, match="layer 2: the teacher's skip spans"):
        training_form(spec, teacher.spec)


def _cut_student(teacher, cut):
    from flow.nn.transfer import matching_weights

    form = training_form(default_student(teacher.spec), teacher.spec)
    model = build_model(form)
    model.load_state_dict(matching_weights(form, teacher))
    for b in cut:
        model.encoder[b].skip_active = False
    return model.eval()


def test_cut_skips_leave_the_computation_of_the_skip_free_layout(teacher):
    x = torch.randn(3, 1, CHUNK)
    gated = _cut_student(teacher, [1, 2])
    free = without_cut_skips(gated).eval()
    assert not any(l.residual for l in free.spec.layers)
    # an independent model of the skip-free layout, built from the YAML form and loaded from the file
    reloaded = build_model(parse_model(free.spec.to_dict()))
    reloaded.load_state_dict(free.state_dict())
    with torch.no_grad():
        assert torch.equal(gated.logits(x), reloaded.eval().logits(x))
        assert not torch.equal(_cut_student(teacher, []).logits(x), gated.logits(x))  # the gate matters
    half = without_cut_skips(_cut_student(teacher, [2]))
    assert [l.residual for l in half.spec.layers] == [False, True, False, False]


def test_skip_free_student_exports_and_lowers_without_fork_or_join(teacher, tmp_path):
    from flow.export.qonnx_export import export_model
    from flow.ir.lower import lower_qonnx

    ops = {}
    for name, cut in (("kept", []), ("free", [1, 2])):
        model = without_cut_skips(_cut_student(teacher, cut))
        exported = export_model(model, tmp_path / f"{name}.onnx", CHUNK)
        graph = lower_qonnx(exported)
        ops[name] = ({n.op_type for n in exported.graph.node}, {n.op_type for n in graph.graph.node})
    assert "Add" in ops["kept"][0] and {"DuplicateStreams", "AddStreams"} <= ops["kept"][1]
    assert "Add" not in ops["free"][0] and not {"DuplicateStreams", "AddStreams"} & ops["free"][1]


@pytest.fixture(scope="module")
def kd_data(tmp_path_factory, teacher):
    """Random signal with the tiny teacher's own logits and greedy pseudo-labels as targets."""
    rng = np.random.default_rng(3)
    chunks = [rng.normal(size=CHUNK).astype(np.float32) for _ in range(24)]
    with torch.no_grad():
        logits = teacher.logits(torch.from_numpy(np.stack(chunks))[:, None, :]).numpy()
    refs = [rng.integers(1, 5, size=20).astype(np.uint8) for _ in chunks]
    out = tmp_path_factory.mktemp("skipclip")
    write_chunk_dataset(out / "ds", chunks, refs, logits)
    save_model(teacher, out / "teacher.pt")
    return out


def _skipclip(data, out, *extra):
    return main(["skipclip", data / "teacher.pt", data / "ds", "-o", out, "--batch-size", "4", "--epochs", "2",
                 "--stride", "3", "--threads", "1", "--checkpoint-every", "2", "--log-every", "2", "--valid-chunks", "4",
                 *extra])


def test_skipclip_run_resumes_exactly_and_ends_skip_free(kd_data, tmp_path):
    assert _skipclip(kd_data, tmp_path / "whole") == 0          # 2 epochs of 5 steps: cuts at steps 3 and 6
    assert _skipclip(kd_data, tmp_path / "split", "--max-steps", "4") == 0   # stops between the two cuts
    half, _ = load_model(tmp_path / "split" / "model.pt")
    assert [l.residual for l in half.spec.layers] == [False, False, True, False]
    assert _skipclip(kd_data, tmp_path / "split") == 0
    whole, _ = load_model(tmp_path / "whole" / "model.pt")
    resumed, _ = load_model(tmp_path / "split" / "model.pt")
    assert not any(l.residual for l in whole.spec.layers)
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert (tmp_path / "whole" / "skipclip.png").stat().st_size > 0
    steps = [int(r.split(",")[0]) for r in (tmp_path / "whole" / "valid_log.csv").read_text().splitlines()[1:]]
    assert {3, 5, 6, 10} <= set(steps)  # before each cut, and each epoch's end


def test_skipclip_refuses_a_schedule_that_does_not_finish(kd_data, tmp_path, capsys):
    assert _skipclip(kd_data, tmp_path / "late", "--stride", "5") == 2
    assert "cuts the last of 2 skip groups at step 10, but a complete run is 10 steps" in capsys.readouterr().err
    assert not (tmp_path / "late").exists()
    assert _skipclip(kd_data, tmp_path / "nokd", "--kd-alpha", "0") == 2


def test_shipped_student_yaml_is_the_default_student():
    from flow.nn.config import load_model_spec

    shipped, default = load_model_spec("models/skipclip_sbonito.yaml"), default_student(load_model_spec("teacher_sbonito"))
    assert shipped.layers == default.layers
    assert (shipped.input_bits, shipped.head_weight_bits, shipped.head_bias) == (default.input_bits, default.head_weight_bits, False)


def test_per_frame_kd_refuses_a_dynamic_pooling_student_by_its_real_cause(kd_data, tmp_path, capsys):
    import yaml

    dp = {"name": "tiny_dp", "input": {"act_bits": 8}, "head": {"classes": 5, "weight_bits": 8}, "layers": [
        {"type": "conv", "channels": 8, "kernel": 5, "stride": 3, "weight_bits": 8, "act_bits": 6},
        {"type": "dynamic_pool", "channels": 8, "kernel": 3, "stride": 1, "norm_target": 2.5, "predictor_kernel": 5,
         "predictor_channels": 8, "weight_bits": 8, "act_bits": 6}]}
    (tmp_path / "dp.yaml").write_text(yaml.safe_dump(dp))
    # same total stride as the teacher (3), yet its frames cannot pair with the teacher's
    assert main(["train", tmp_path / "dp.yaml", kd_data / "ds", "-o", tmp_path / "out", "--kd-alpha", "0.5",
                 "--batch-size", "4", "--max-steps", "1", "--threads", "1", "--valid-chunks", "4"]) == 2
    err = capsys.readouterr().err
    assert "dynamic-pooling student's frames depend on the signal" in err and "another stride" not in err


def test_shipped_student_is_skip_free_and_matches_its_yaml():
    from flow.nn.config import load_model_spec

    model, _ = load_model("models/skipclip_sbonito.pt")
    assert model.spec.layers == load_model_spec("models/skipclip_sbonito.yaml").layers
    assert not any(l.residual for l in model.spec.layers) and not skip_blocks(model)
