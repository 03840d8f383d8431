"""Compiling generated C++ with the system g++ against the ap_types headers of the hls4ml wheel.

A build compiles against its own copy of the kernel library (`<build>/hls/kernels/`), the
one its vendor-tool scripts use."""
import hashlib
import importlib.resources
import shutil
import subprocess
from pathlib import Path

from flow.errors import FlowError
from flow.paths import REPO_ROOT

KERNELS_DIR = REPO_ROOT / "hls"
CXXFLAGS = ["-std=c++17", "-O2", "-Wall", "-Wno-unused-label", "-Wno-unknown-pragmas", "-Wno-unused-variable"]


def ap_types_dir() -> Path:
    """The Xilinx ap_types headers inside the installed hls4ml package (never copied into the repo)."""
    try:
        root = importlib.resources.files("hls4ml") / "templates" / "vivado" / "ap_types"
    except ModuleNotFoundError:
        raise FlowError("C-simulation needs the ap_types headers of the hls4ml package: pip install hls4ml") from None
    path = Path(str(root))
    if not (path / "ap_int.h").exists():
        raise FlowError(f"{path}: no ap_int.h in the installed hls4ml; reinstall hls4ml")
    return path


def compile_program(source: Path, output: Path, include_dirs: list[Path] = (), defines: tuple[str, ...] = ()) -> Path:
    """g++ one translation unit; skipped when the source, headers and flags are unchanged.
    `defines` (e.g. `RUBICON_EXACT_TYPES`, hls/common.h) select branches of the sources."""
    if shutil.which("g++") is None:
        raise FlowError("g++ is not installed; C-simulation needs it (apt-get install g++)")
    includes = [source.parent, source.parent / "kernels", *include_dirs]
    cmd = ["g++", *CXXFLAGS, *[f"-D{d}" for d in defines], *[f"-I{d}" for d in includes], "-isystem", str(ap_types_dir()), str(source), "-o", str(output)]
    headers = [h for d in includes for h in sorted(Path(d).rglob("*.h")) + sorted(Path(d).glob("*.cpp"))]
    return run_cached(cmd, headers, output, output.with_suffix(".hash"), f"g++ on {source}")


def run_cached(cmd: list[str], inputs: list[Path], output: Path, stamp: Path, what: str) -> Path:
    """Run a build command unless `output` exists and the command and inputs hash as last time."""
    digest = hashlib.sha256(" ".join(cmd).encode())
    for path in inputs:
        digest.update(Path(path).read_bytes())
    if output.exists() and stamp.exists() and stamp.read_text() == digest.hexdigest():
        return output
    stamp.unlink(missing_ok=True)  # a compile killed half-way must not leave an output that matches the stamp
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise FlowError(f"{what} failed:\n{(result.stdout + result.stderr)[-4000:]}")
    stamp.write_text(digest.hexdigest())
    return output
