import shutil
from pathlib import Path

import numpy as np
import pytest

from flow.paths import data_dir


@pytest.fixture(scope="session")
def shared():
    root = data_dir()
    if not root.exists():
        pytest.fail(f"shared data not found at {root}; set RUBICON_DATA")
    return root


@pytest.fixture(scope="session")
def pore_model(shared):
    from flow.data.pore_model import PoreModel
    from flow.paths import PORE_MODEL

    return PoreModel.load(shared / PORE_MODEL)


@pytest.fixture(scope="session")
def sim_reads(pore_model):
    """A few short simulated reads from a random genome (fast, deterministic)."""
    from flow.data.pore_model import random_genome
    from flow.data.simulate import SimConfig, simulate_genome

    genome = {"g": random_genome(50_000, np.random.default_rng(5))}
    cfg = SimConfig(min_length=800, mean_length=1500)
    return [s.read for s in simulate_genome(genome, 6, pore_model, cfg, seed=3)]


def truncated_copy(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def copy(src: Path, dst: Path) -> Path:
    shutil.copy(src, dst)
    return dst
