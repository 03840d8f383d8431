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


TINY_CHUNK = 312  # a multiple of the stride (3) and of the samples per 64-bit AXI beat (8)


@pytest.fixture(scope="session")
def tiny_basecaller():
    """A small quantized basecaller with every op kind: strided stem, a residual block of
    depthwise separable layers (fork, join, stand-alone thresholds), a dense conv and the head."""
    import torch

    from flow.nn.config import parse_model
    from flow.nn.model import build_model

    spec = parse_model({"name": "tiny", "input": {"act_bits": 8}, "head": {"classes": 5, "weight_bits": 8}, "layers": [
        {"type": "conv", "channels": 12, "kernel": 9, "stride": 3, "weight_bits": 8, "act_bits": 4},
        {"type": "separable", "channels": 12, "kernel": 5, "groups": "depthwise", "repeat": 2, "residual": True,
         "weight_bits": 4, "act_bits": 4},
        {"type": "conv", "channels": 8, "kernel": 3, "weight_bits": 4, "act_bits": 4}]})
    torch.manual_seed(0)
    return build_model(spec).eval()


@pytest.fixture(scope="session")
def tiny(tiny_basecaller, tmp_path_factory):
    """The tiny basecaller lowered to its dataflow graph (TINY_CHUNK samples per chunk)."""
    from flow.export.qonnx_export import export_model
    from flow.ir.lower import lower_qonnx

    return lower_qonnx(export_model(tiny_basecaller, tmp_path_factory.mktemp("tiny") / "m.onnx", TINY_CHUNK))


@pytest.fixture(scope="session")
def tiny_dp_basecaller():
    """A small quantized basecaller with dynamic pooling (Lmax = TINY_CHUNK / 2). Its predictor is
    scaled up from the near-uniform start so moves depend on the signal, and the move scale is
    set so the busiest chunks overflow Lmax."""
    import torch

    from flow.nn.config import parse_model
    from flow.nn.model import build_model

    spec = parse_model({"name": "tiny_dp", "input": {"act_bits": 8}, "head": {"classes": 5, "weight_bits": 8}, "layers": [
        {"type": "conv", "channels": 8, "kernel": 5, "weight_bits": 8, "act_bits": 6},
        {"type": "dynamic_pool", "channels": 12, "kernel": 3, "stride": 2, "norm_target": 2.5, "predictor_kernel": 5,
         "predictor_channels": 8, "weight_bits": 8, "act_bits": 6},
        {"type": "separable", "channels": 12, "kernel": 5, "groups": "depthwise", "weight_bits": 4, "act_bits": 4},
        {"type": "conv", "channels": 8, "kernel": 3, "weight_bits": 4, "act_bits": 4}]})
    torch.manual_seed(0)
    model = build_model(spec).eval()
    with torch.no_grad():
        model.dynamic_pool.predictor_out.weight.mul_(60)
        model.dynamic_pool.move_scale.fill_(1.2)
    return model


@pytest.fixture(scope="session")
def tiny_dp(tiny_dp_basecaller, tmp_path_factory):
    """tiny_dp_basecaller lowered to its dataflow graph (TINY_CHUNK samples per chunk)."""
    from flow.export.qonnx_export import export_model
    from flow.ir.lower import lower_qonnx

    return lower_qonnx(export_model(tiny_dp_basecaller, tmp_path_factory.mktemp("tiny_dp") / "m.onnx", TINY_CHUNK))
