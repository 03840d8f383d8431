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


def write_multi_fast5(path: Path, reads) -> Path:
    """Reads in the multi-read FAST5 layout (/read_<id>/Raw/Signal, /read_<id>/channel_id)."""
    import h5py

    with h5py.File(path, "w") as f:
        for r in reads:
            g = f.create_group(f"read_{r.read_id}")
            g.create_group("Raw").attrs["read_id"] = r.read_id.encode()
            g["Raw"].create_dataset("Signal", data=r.signal)
            g.create_group("channel_id").attrs.update(
                {"offset": r.offset, "range": r.range, "digitisation": r.digitisation, "sampling_rate": r.sample_rate})
    return path


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


FAKE_VITIS_HLS = """#!/bin/sh
echo "vitis_hls $PWD" >> "$FAKE_TOOL_LOG"
mkdir -p rubicon_hls/sol1/syn/report
echo "<profile/>" > rubicon_hls/sol1/syn/report/csynth.xml
"""
# With FAKE_VIVADO_KILLS_BUILD=<file> it starts a half-minute program (as the real launcher
# script starts the real Vivado), writes that program's pid to the file, and sends SIGTERM to the
# build that started it: a kill that lands while a vendor tool runs.
FAKE_VIVADO = """#!/bin/sh
echo "vivado $PWD" >> "$FAKE_TOOL_LOG"
if [ -n "$FAKE_VIVADO_KILLS_BUILD" ]; then sleep 30 & echo $! > "$FAKE_VIVADO_KILLS_BUILD"; kill -TERM $PPID; wait; fi
mkdir -p reports ../driver
for f in reports/utilization.rpt reports/utilization_hier.rpt reports/timing_summary.rpt ../driver/rubicon.bit \\
         ../driver/rubicon.hwh; do echo "$f" > $f; done
"""


@pytest.fixture(scope="session")
def vendor_tools(tmp_path_factory):
    """Stand-in `vitis_hls` and `vivado` that leave the files the real tools would and log each
    run (see tool_runs): the environment variables that put them first on PATH."""
    import os

    root = tmp_path_factory.mktemp("vendor_tools")
    (root / "bin").mkdir()
    for name, text in (("vitis_hls", FAKE_VITIS_HLS), ("vivado", FAKE_VIVADO)):
        (root / "bin" / name).write_text(text)
        (root / "bin" / name).chmod(0o755)
    return {"PATH": f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}", "FAKE_TOOL_LOG": str(root / "runs.log")}


def tool_runs(vendor_tools: dict, build_dir: Path) -> list[str]:
    """The stand-in tools started in `build_dir`, in order."""
    log = Path(vendor_tools["FAKE_TOOL_LOG"])
    runs = [line.split(" ", 1) for line in (log.read_text().splitlines() if log.exists() else [])]
    return [tool for tool, cwd in runs if Path(cwd).parent == Path(build_dir)]


TINY_BUILD_CHUNKS = 5


@pytest.fixture(scope="session")
def tiny_build(tiny_basecaller, vendor_tools, tmp_path_factory):
    """tiny_basecaller built for PYNQ-Z2 (TINY_CHUNK samples, TINY_BUILD_CHUNKS chunks) with the
    stand-in vendor tools on PATH: (its BuildConfig, the report). A test that changes anything
    in the build copies the directory first."""
    from flow.build.pipeline import BuildConfig, build
    from flow.nn.checkpoint import save_model

    root = tmp_path_factory.mktemp("tiny_build")
    save_model(tiny_basecaller, root / "tiny.pt")
    cfg = BuildConfig(model=str(root / "tiny.pt"), target="pynq-z2", out=root / "build", chunk_len=TINY_CHUNK,
                      chunks=TINY_BUILD_CHUNKS)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in vendor_tools.items():
            mp.setenv(k, v)
        report = build(cfg, progress=False)
    return cfg, report
