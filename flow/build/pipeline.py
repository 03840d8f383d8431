"""The build: export → lower → fold → vectors → FIFO sizing → codegen → csim → cyclesim →
vendor tools → report.

Each stage is a function of the build directory; `build()` runs them in order through the
manifest (flow/build/manifest.py), so an unchanged stage is reused and an interrupted build
resumes. Codegen and the report are rewritten on every run (they are quick and deterministic).
Artifacts (DESIGN §2): model.onnx, dataflow.onnx, folded.onnx, final.onnx, hls/, vectors/,
driver/, vivado/ (or vitis/), report.json (+ report.md and plots), manifest.json.
"""
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from tqdm import tqdm

from flow.build.manifest import Manifest
from flow.errors import FlowError
from flow.nn.resolve import resolve_model

CHUNK_LEN = 4200
SIZING_CHUNKS = 3
KILL_ENV = "RUBICON_TEST_KILL"


@dataclass
class BuildConfig:
    model: str = "rubicall_pynq"
    target: str = "pynq-z2"
    out: Path | None = None          # default build/<target>/<model>
    chunk_len: int = CHUNK_LEN
    fps: float | None = None         # chunks/s to meet with the least resources
    samples_per_s: float | None = None
    headroom: float = 0.15           # with neither throughput target: fit the budget × (1 − headroom)
    chunks: int = 8                  # verification chunks (real reads + edge cases)
    update_calibration: bool = False  # also store this build's factors as the target's calibration

    @property
    def build_dir(self) -> Path:
        """-o, else build/<target>/<model> by name (a model or target given as a path adds only its stem)."""
        return Path(self.out) if self.out else Path("build") / Path(self.target).stem / Path(self.model).stem


class Build:
    def __init__(self, cfg: BuildConfig):
        from flow.hw.targets import load_target

        self.cfg = cfg
        self.target = load_target(cfg.target)
        resolve_model(cfg.model)  # a model that is not there fails before the build folder exists
        self.dir = cfg.build_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.manifest = Manifest(self.dir)
        self.timing: dict[str, float] = {}

    @property
    def shipped_target(self) -> bool:
        """A target of targets/ (it has a stored calibration); else a target file of the user's."""
        from flow.hw.targets import is_shipped

        return is_shipped(self.target)

    def calibration(self):
        """The target's stored calibration (factors of 1.0 for a target file of the user's)."""
        from flow.hw.calibration import Calibration, load_calibration

        return load_calibration(self.target.name) if self.shipped_target else Calibration(target=self.target.name)

    def _stage(self, name: str, params: dict, files: list[Path], code: tuple[str, ...], outputs, work):
        """Run `work()` unless the manifest has it done with the same key; returns its result dict.
        The key covers `code` and this package (a stage's own work function lives here).
        `outputs`: paths relative to the build directory, or a function of the result giving them.
        The stage is recorded only after `work()` has returned, so a kill inside it leaves it undone."""
        key = self.manifest.key(params, files, ("flow/build", *code))
        done = self.manifest.done(name, key)
        if done is not None:
            self.timing[name] = 0.0
            return done["result"]
        self.manifest.forget(name)
        start = time.perf_counter()
        result = work() or {}
        self.timing[name] = time.perf_counter() - start
        self.manifest.record(name, key, outputs(result) if callable(outputs) else outputs, self.timing[name], result)
        return result

    # -- stages --------------------------------------------------------------------------
    def export(self):
        def work():
            from flow.export.qonnx_export import export_model
            from flow.nn.checkpoint import load_model

            model, _ = load_model(self.cfg.model)
            export_model(model, self.dir / "model.onnx", self.cfg.chunk_len)
        src = resolve_model(self.cfg.model)
        self._stage("export", {"chunk_len": self.cfg.chunk_len, "model": self.cfg.model}, [src],
                    ("flow/nn", "flow/export"), ["model.onnx"], work)

    def lower(self):
        def work():
            from flow.ir.lower import lower_qonnx

            lower_qonnx(ModelWrapper(str(self.dir / "model.onnx"))).save(str(self.dir / "dataflow.onnx"))
        self._stage("lower", {}, [self.dir / "model.onnx"], ("flow/ir",), ["dataflow.onnx"], work)

    def fold(self):
        from flow.hw.calibration import calibration_path
        from flow.hw.targets import TARGETS_DIR

        def work():
            from flow.hw.fold import insert_dwcs, set_folding

            fit = self.cfg.fps is None and self.cfg.samples_per_s is None
            folded = set_folding(ModelWrapper(str(self.dir / "dataflow.onnx")), self.target, fps=self.cfg.fps,
                                 samples_per_s=self.cfg.samples_per_s, fit=fit, headroom=self.cfg.headroom,
                                 calibration=self.calibration())
            insert_dwcs(folded).save(str(self.dir / "folded.onnx"))
        cal = calibration_path(self.target.name) if self.shipped_target else None
        target_file = Path(self.target.source) if self.target.source else TARGETS_DIR / f"{self.target.name}.yaml"
        files = [self.dir / "dataflow.onnx", target_file] + ([cal] if cal is not None and cal.exists() else [])
        self._stage("fold", {"fps": self.cfg.fps, "samples_per_s": self.cfg.samples_per_s, "headroom": self.cfg.headroom},
                    files, ("flow/hw",), ["folded.onnx"], work)

    def vectors(self):
        def work():
            from flow.build.vectors import build_chunks
            from flow.codegen.csim import write_vectors
            from flow.codegen.network import build_network

            model = ModelWrapper(str(self.dir / "folded.onnx"))
            ints = build_chunks(model, self.cfg.chunks, self.cfg.chunk_len)
            write_vectors(model, build_network(model), ints, self.dir / "vectors")
        self._stage("vectors", {"chunks": self.cfg.chunks}, [self.dir / "folded.onnx"], ("flow/build", "flow/ir", "flow/data", "flow/codegen"),
                    ["vectors/golden.npy", "vectors/input_beats.npy"], work)

    def size_fifos(self):
        def work():
            from flow.codegen.project import write_sources
            from flow.hw.fold import insert_fifos
            from flow.sim.cyclesim import size_fifos

            folded = ModelWrapper(str(self.dir / "folded.onnx"))
            net = write_sources(folded, self.dir / "hls")
            # Three chunks show the steady state of a fixed-rate pipeline at a third of the cost. With
            # dynamic pooling the frame timing differs from chunk to chunk, and FIFOs sized on three
            # chunks lost 14% of the throughput on eight: there, every chunk takes part.
            chunks = None if net.side_stream else SIZING_CHUNKS
            sizing = self.dir / "vectors" / "sizing"
            sizing.mkdir(exist_ok=True)
            for name in ("input_beats.npy", "golden.npy", "golden_trailer.npy"):
                if (self.dir / "vectors" / name).exists():
                    np.save(sizing / name, np.load(self.dir / "vectors" / name)[:chunks])
            depths, _ = size_fifos(self.dir / "hls", net, sizing)
            by_tensor = {s.tensor: depths[s.ident] for s in net.streams.values()}
            insert_fifos(folded, depths=by_tensor).save(str(self.dir / "final.onnx"))
            return {"depths": depths}
        return self._stage("fifo_sizing", {}, [self.dir / "folded.onnx", self.dir / "vectors/input_beats.npy"],
                           ("flow/codegen", "flow/sim", "hls"), ["final.onnx"], work)

    def codegen(self):
        """C++ sources, vendor-tool scripts and the PYNQ driver of final.onnx; returns their paths.
        Not a manifest stage: it takes well under a second, and FIFO sizing leaves the pre-FIFO
        sources in hls/, so it writes on every run (unchanged files keep their compile caches)."""
        from flow.codegen.driver import model_constants, write_driver
        from flow.codegen.project import write_sources
        from flow.codegen.vendor import write_hls_tcl, write_vivado_tcl

        model = ModelWrapper(str(self.dir / "final.onnx"))
        self.net = write_sources(model, self.dir / "hls")
        paths = {"tcl_hls": write_hls_tcl(self.dir, self.net, self.target, model_name=self.cfg.model),
                 "tcl_vivado": write_vivado_tcl(self.dir, self.net, self.target, model_name=self.cfg.model),
                 "driver": write_driver(self.dir, self.net, self.target, model_name=self.cfg.model, **model_constants(model))}
        return {"artifacts": {k: str(Path(v).relative_to(self.dir)) for k, v in paths.items()}}

    def csim(self):
        def work():
            from flow.codegen.csim import run_csim

            start = time.perf_counter()
            _, cmp = run_csim(self.dir / "hls", self.net, self.dir / "vectors")
            return cmp.as_dict() | {"chunks": self.cfg.chunks, "seconds": round(time.perf_counter() - start, 3)}
        return self._stage("csim", {}, [self.dir / "final.onnx", self.dir / "vectors/golden.npy"],
                           ("flow/codegen", "hls"), ["vectors/csim_output.npy"], work)

    def cyclesim(self):
        def work():
            from flow.sim.cyclesim import run_cyclesim

            start = time.perf_counter()
            report = run_cyclesim(self.dir / "hls", self.net, self.dir / "vectors")
            return report.as_dict() | {"chunks": self.cfg.chunks, "seconds": round(time.perf_counter() - start, 3)}
        return self._stage("cyclesim", {}, [self.dir / "final.onnx", self.dir / "vectors/golden.npy"],
                           ("flow/codegen", "flow/sim", "hls"), ["vectors/cyclesim_output.npy"], work)

    def vendor(self):
        """HLS synthesis and the bitstream (or the xclbin link) when the tools are on PATH, else the
        one-line skip. A stage like the others: a rerun with the same sources, scripts, tools and
        settings reuses its result instead of synthesising again."""
        from flow.codegen.vendor import RESULT_FILES, run_vendor_flow, vendor_inputs

        params, files = vendor_inputs(self.dir, self.target)
        outputs = lambda result: [result[k] for k in RESULT_FILES if k in result]  # noqa: E731
        return self._stage("vendor", params, files, ("flow/codegen",), outputs,
                           lambda: _relative(run_vendor_flow(self.dir, self.target), self.dir))


def _relative(value, root: Path):
    """The files in a stage's result relative to the build directory (as the report's artifacts
    are), so that a build directory moved elsewhere is reused with paths that still hold."""
    if isinstance(value, dict):
        return {k: _relative(v, root) for k, v in value.items()}
    prefix = os.path.join(root, "")
    return value[len(prefix):] if isinstance(value, str) and value.startswith(prefix) else value


def check_verified(result: dict, what: str) -> None:
    if not result.get("bit_exact"):
        raise FlowError(f"{what}: {result.get('mismatches')} of {result.get('elements_compared')} output elements differ from "
                        "the golden model; see vectors/ in the build directory")


_step = [None]  # the step build() is in, for the kill hook
_hook = []       # the kill hook, once installed (audit hooks cannot be removed)


def _writes(mode, flags) -> bool:
    if mode is not None:
        return any(c in str(mode) for c in "wax+")
    return bool((flags or 0) & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))


def _kill_hook(event: str, args: tuple) -> None:
    """Test hook (tests/test_build_resume.py): with RUBICON_TEST_KILL="<step>:<text>", this process
    sends itself SIGTERM when that step first opens a file for writing, or starts a program, whose
    path or command line contains <text>: a kill that lands inside the step's work, at a known point."""
    step, _, text = os.environ.get(KILL_ENV, "").partition(":")
    if _step[0] != step:
        return
    if event == "open" and _writes(args[1], args[2]) and text in str(args[0]) or \
            event == "subprocess.Popen" and text in " ".join(map(str, args[1] or ())):
        _step[0] = None  # once
        os.kill(os.getpid(), signal.SIGTERM)


def build(cfg: BuildConfig, progress: bool = True) -> dict:
    """Run every stage; returns the report dict (also written to report.json)."""
    from flow.build.summary import write_report

    if os.environ.get(KILL_ENV) and not _hook:
        sys.addaudithook(_kill_hook)
        _hook.append(_kill_hook)
    b = Build(cfg)
    results = {}
    steps = [("export", b.export), ("lower", b.lower), ("fold", b.fold)]
    if b.target.builds_hardware:
        steps += [("vectors", b.vectors), ("fifo_sizing", b.size_fifos), ("codegen", b.codegen), ("csim", b.csim),
                  ("cyclesim", b.cyclesim), ("vendor", b.vendor)]
    steps.append(("report", lambda: write_report(b, results)))
    bar = tqdm(steps, desc=f"build {cfg.model} → {cfg.target}", unit="stage", disable=not progress)
    for name, step in bar:
        bar.set_postfix_str(name)
        _step[0] = name
        results[name] = step()
        if name == "cyclesim":  # no vendor tool runs on a design the simulations found wrong
            check_verified(results["csim"], "C-simulation")
            check_verified(results["cyclesim"], "cycle simulation")
    _step[0] = None
    return results["report"]


def rerun_stage(build_dir: Path, stage: str) -> dict:
    """Run the csim or cyclesim stage of an existing build again (ignoring the manifest)."""
    from flow.codegen.project import write_sources

    build_dir = Path(build_dir)
    final, vectors = build_dir / "final.onnx", build_dir / "vectors" / "input_beats.npy"
    for needed in (final, vectors):
        if not needed.exists():
            raise FlowError(f"{needed} is missing: {build_dir} is not a finished build; run `rubicon build -o {build_dir}` first")
    net = write_sources(ModelWrapper(str(final)), build_dir / "hls")
    if stage == "csim":
        from flow.codegen.csim import run_csim

        _, cmp = run_csim(build_dir / "hls", net, build_dir / "vectors")
        return cmp.as_dict()
    from flow.sim.cyclesim import run_cyclesim

    return run_cyclesim(build_dir / "hls", net, build_dir / "vectors").as_dict()
