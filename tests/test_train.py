"""Training: loss goes down, and an interrupted run resumes to the same weights."""
import os
import signal

import numpy as np
import pytest
import torch

from flow.data.chunks import labelled_chunks, write_chunk_dataset
from flow.errors import FlowError
from flow.nn.config import parse_model
from flow.train.trainer import TrainConfig, train

TINY = {"name": "tiny", "layers": [
    {"type": "conv", "channels": 8, "kernel": 9, "stride": 3, "weight_bits": 6, "act_bits": 6},
    {"type": "separable", "channels": 8, "kernel": 5, "groups": "depthwise", "weight_bits": 4, "act_bits": 4},
]}


@pytest.fixture(scope="module")
def dataset(sim_reads, tmp_path_factory):
    chunks, refs = [], []
    for read in sim_reads:
        c, r = labelled_chunks(read, 600)
        chunks += c
        refs += r
    path = tmp_path_factory.mktemp("ds")
    write_chunk_dataset(path, chunks, refs)
    return path


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def test_resume_gives_the_same_weights_and_logs(dataset, tmp_path):
    """Killed between boundaries: the last checkpoint (step 3) falls inside a logging window
    (rows at 4, 8, ...), so the resumed run must carry that window's losses over to log step 4 as
    the uninterrupted run does; weights, train and validation logs all equal the straight run's."""
    spec = parse_model(TINY)
    cfg = dict(epochs=2, batch_size=4, checkpoint_every=3, log_every=4, valid_chunks=4, warmup_steps=2, threads=1)
    straight = train(spec, dataset, tmp_path / "a", TrainConfig(**cfg))
    with pytest.raises(SystemExit):  # stands in for the process dying after step 5: no log, no checkpoint there
        _train_then_die(spec, dataset, tmp_path / "b", TrainConfig(**cfg), die_at=5)
    state = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert state["step"] == 3 and state["step"] % cfg["log_every"]  # the resume starts mid-window
    resumed = train(spec, dataset, tmp_path / "b", TrainConfig(**cfg))
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    for log in ("train_log.csv", "valid_log.csv"):
        rows_a, rows_b = (tmp_path / "a" / log).read_text(), (tmp_path / "b" / log).read_text()
        assert rows_a == rows_b, log  # same values, no duplicated or missing rows
    assert rows_a.count("\n") > 2
    assert (tmp_path / "a" / "training_curve.png").stat().st_size > 1000


def _train_then_die(spec, dataset, out, cfg, die_at):
    """Run training and kill it (no clean-up) right after optimiser step `die_at`."""
    original = torch.optim.AdamW.step
    counter = {"n": 0}

    def step(self, *a, **k):
        result = original(self, *a, **k)
        counter["n"] += 1
        if counter["n"] == die_at:
            raise SystemExit("killed")
        return result

    torch.optim.AdamW.step = step
    try:
        train(spec, dataset, out, cfg)
    finally:
        torch.optim.AdamW.step = original


def test_ctrl_c_saves_a_checkpoint(dataset, tmp_path):
    spec = parse_model(TINY)
    cfg = TrainConfig(epochs=1, batch_size=4, checkpoint_every=100, valid_chunks=4, threads=1)
    original = torch.optim.AdamW.step

    def step(self, *a, **k):
        original(self, *a, **k)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of step 1

    torch.optim.AdamW.step = step
    try:
        with pytest.raises(FlowError, match="interrupted at step 1"):
            train(spec, dataset, tmp_path, cfg)
    finally:
        torch.optim.AdamW.step = original
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 1


def test_changed_config_refuses_to_resume(dataset, tmp_path):
    spec = parse_model(TINY)
    train(spec, dataset, tmp_path, TrainConfig(epochs=1, batch_size=4, max_steps=2, valid_chunks=4, threads=1))
    with pytest.raises(FlowError, match="another model or config"):
        train(spec, dataset, tmp_path, TrainConfig(epochs=1, batch_size=8, valid_chunks=4, threads=1))


def test_resume_with_another_thread_count(dataset, tmp_path):
    """Threads change speed, not the arithmetic: a run may continue on a busier machine."""
    spec = parse_model(TINY)
    train(spec, dataset, tmp_path, TrainConfig(epochs=1, batch_size=4, max_steps=2, valid_chunks=4, threads=2))
    train(spec, dataset, tmp_path, TrainConfig(epochs=1, batch_size=4, max_steps=3, valid_chunks=4, threads=1))
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 3


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without a GPU")
def test_missing_gpu_is_one_clear_error_before_anything_is_written(dataset, tmp_path):
    with pytest.raises(FlowError, match="--device cuda: no CUDA device"):
        train(parse_model(TINY), dataset, tmp_path / "run", TrainConfig(epochs=1, batch_size=4, device="cuda"))
    assert not (tmp_path / "run").exists()


def test_a_gpu_checkpoint_resumes_on_the_cpu(dataset, tmp_path):
    """The device, like the thread count, is the machine's business (a lent GPU's run continues here)."""
    spec = parse_model(TINY)
    train(spec, dataset, tmp_path, TrainConfig(epochs=1, batch_size=4, max_steps=2, valid_chunks=4, threads=1))
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    state["config"]["device"] = "cuda"
    torch.save(state, tmp_path / "checkpoint.pt")
    train(spec, dataset, tmp_path, TrainConfig(epochs=1, batch_size=4, max_steps=3, valid_chunks=4, threads=1))
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 3


def test_loss_goes_down(dataset, tmp_path):
    spec = parse_model(TINY)
    train(spec, dataset, tmp_path, TrainConfig(epochs=3, batch_size=4, log_every=5, lr=5e-3, warmup_steps=5, valid_chunks=4, threads=1))
    import csv

    rows = list(csv.DictReader(open(tmp_path / "train_log.csv")))
    losses = np.array([float(r["loss"]) for r in rows])
    assert losses[-3:].mean() < losses[:3].mean()


def test_a_dataset_too_small_to_hold_out_chunks_is_refused_before_training(tmp_path):
    """Validation keeps the last tenth of every dataset: 8 chunks keep none, and the first
    validation would divide by zero after the whole epoch; the run is refused up front instead."""
    rng = np.random.default_rng(0)
    write_chunk_dataset(tmp_path / "ds", [rng.normal(size=600).astype(np.float32) for _ in range(8)],
                        [rng.integers(1, 5, size=20).astype(np.uint8) for _ in range(8)])
    with pytest.raises(FlowError, match=r"ds: 8 chunks; validation holds out the last tenth of every dataset"):
        train(parse_model(TINY), [tmp_path / "ds"], tmp_path / "out", TrainConfig(batch_size=2))
    assert not (tmp_path / "out").exists()
