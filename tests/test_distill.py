"""Distillation: the KD loss, teacher targets, and a distillation run from unlabelled real reads."""
import csv

import numpy as np
import pytest
import torch

from flow.cli import main
from flow.data.chunks import load_chunk_dataset
from flow.errors import FlowError
from flow.nn.checkpoint import load_model
from flow.nn.config import load_model_spec, parse_model
from flow.nn.transfer import matching_weights
from flow.train.distill import kd_loss
from flow.train.trainer import TrainConfig, train

TINY = {"name": "tiny", "layers": [
    {"type": "conv", "channels": 8, "kernel": 9, "stride": 3, "weight_bits": 6, "act_bits": 6},
    {"type": "separable", "channels": 8, "kernel": 5, "groups": "depthwise", "weight_bits": 4, "act_bits": 4},
]}


def test_kd_loss_is_zero_only_for_equal_distributions():
    t = torch.randn(2, 5, 30)
    assert kd_loss(t.clone(), t, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    assert kd_loss(torch.randn(2, 5, 30), t, 2.0).item() > 0
    # shifting logits by a per-frame constant does not change the distribution (softmax over classes)
    assert kd_loss(t + torch.randn(2, 1, 30), t, 2.0).item() == pytest.approx(0.0, abs=1e-5)


def test_kd_loss_matches_the_definition():
    s, t, T = torch.randn(1, 5, 4), torch.randn(1, 5, 4), 3.0
    p, q = torch.softmax(t / T, 1), torch.softmax(s / T, 1)
    expected = T**2 * (p * (p.log() - q.log())).sum(1).mean()
    assert kd_loss(s, t, T).item() == pytest.approx(expected.item(), rel=1e-5)


def test_kd_gradient_pulls_the_student_toward_the_teacher():
    t = torch.randn(1, 5, 10)
    s = torch.zeros(1, 5, 10, requires_grad=True)
    kd_loss(s, t, 1.0).backward()
    with torch.no_grad():
        moved = s - 0.5 * s.grad
    assert kd_loss(moved, t, 1.0) < kd_loss(torch.zeros(1, 5, 10), t, 1.0)


@pytest.fixture(scope="module")
def real_unlabelled(tmp_path_factory, shared):
    out = tmp_path_factory.mktemp("kd") / "real"
    code = main(["chunkify", str(shared / "reads/slow5/minir10dna.blow5"), "--teacher", "teacher_sbonito",
                 "--chunk-len", "1200", "--max-chunks", "24", "-o", str(out)])
    assert code == 0
    return out


def test_chunkify_with_teacher_stores_logits_and_pseudo_labels(real_unlabelled):
    ds = load_chunk_dataset(real_unlabelled)
    assert 16 <= len(ds) < 24  # chunks of open pore / adapter (too few pseudo-bases) are dropped
    assert ds.teacher_logits.shape == (len(ds), 5, 400)
    assert ds.reference_lengths.min() >= 1200 // 40
    labels = ds.references[0, : ds.reference_lengths[0]]
    assert set(np.unique(labels)) <= {1, 2, 3, 4}


def test_distillation_run_lowers_the_kd_term(real_unlabelled, tmp_path):
    cfg = TrainConfig(epochs=6, batch_size=4, log_every=5, lr=5e-3, warmup_steps=3, valid_chunks=4, kd_alpha=0.9, threads=1)
    train(parse_model(TINY), [real_unlabelled], tmp_path, cfg)
    kd = [float(r["kd"]) for r in csv.DictReader(open(tmp_path / "train_log.csv"))]
    assert kd[-1] < kd[0]


def test_kd_needs_teacher_logits(tmp_path, sim_reads):
    from flow.data.chunks import labelled_chunks, write_chunk_dataset

    c, r = labelled_chunks(sim_reads[0], 600)
    write_chunk_dataset(tmp_path / "ds", c, r)
    with pytest.raises(FlowError, match="teacher logits"):
        train(parse_model(TINY), [tmp_path / "ds"], tmp_path / "out", TrainConfig(kd_alpha=0.5, batch_size=2))


def test_teacher_seeds_a_quantized_student_of_its_layout():
    teacher, _ = load_model("teacher_sbonito")
    spec = load_model_spec("teacher_sbonito")
    quant = parse_model(spec.to_dict() | {"name": "q", "input": {"act_bits": 8},
                                          "layers": [l | {"weight_bits": 8} for l in spec.to_dict()["layers"]]})
    weights = matching_weights(quant, teacher)
    assert torch.equal(weights["encoder.1.body.0.grouped.weight"], teacher.state_dict()["encoder.1.body.0.grouped.weight"])
