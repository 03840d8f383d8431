"""`rubicon search` under torchrun: two gloo processes on shards of the global batch give the
single-process result (weights and architecture logits)."""
import os
import subprocess
import sys

import pytest
import torch
import yaml

from test_search import CHUNK, SPACE, write_synthetic

# Two processes reorder floating-point sums (BatchNorm statistics and gradients are summed per
# shard, then across processes) against one process summing the whole batch: float32 rounding,
# ~1e-7 relative per operation, carried through six steps (measured: under 5e-8, every
# parameter, buffer and logit). Per-shard BatchNorm or a missing gradient average moves
# parameters by 1e-3 to 2e-2 (both tried): the tolerance sits well between.
ATOL = 1e-6


def _search(dataset, space, out, nproc):
    args = [str(space), str(dataset), "-o", str(out), "--chunk-len", str(CHUNK), "--samples-per-s", "9e6",
            "--steps", "6", "--warmup-steps", "2", "--batch-size", "4", "--eval-every", "3", "--eval-chunks", "4",
            "--valid-chunks", "8", "--threads", "1", "--seed", "2", "--lam", "5"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] \
        if nproc > 1 else [sys.executable]
    done = subprocess.run(launcher + ["-m", "flow.cli", "search"] + args, capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(out / "checkpoint.pt", weights_only=True)


def test_two_processes_equal_one(tmp_path):
    dataset = write_synthetic(tmp_path / "ds")
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    one = _search(dataset, space, tmp_path / "one", 1)
    two = _search(dataset, space, tmp_path / "two", 2)
    assert one["step"] == two["step"] == 6
    arch = [k for k in one["net"] if k.startswith("arch.")]
    assert len(arch) == 8
    moved = max(float((one["net"][k]).abs().max()) for k in arch)
    assert moved > 1e-2  # the logits did move, so agreeing means something
    for key, value in one["net"].items():
        assert torch.allclose(value, two["net"][key], rtol=0, atol=ATOL), (key, float((value - two["net"][key]).abs().max()))
    assert [r["architecture"] for r in one["log"]] == [r["architecture"] for r in two["log"]]
    assert (tmp_path / "one" / "derived.yaml").read_text() == (tmp_path / "two" / "derived.yaml").read_text()
