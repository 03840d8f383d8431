"""A build killed (SIGTERM) inside any stage and run again ends identical to an uninterrupted
build; the vendor-tool run is a stage that a rerun reuses; a missing module fails the build.

The reference is conftest's tiny_build (the stand-in vitis_hls/vivado on PATH log every run)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import tool_runs
from flow.build.manifest import Manifest
from flow.build.pipeline import KILL_ENV, Build, BuildConfig, build

# Where each step is killed. RUBICON_TEST_KILL="<step>:<text>" sends SIGTERM when that step first
# opens a file for writing, or starts a program, whose path or command line contains <text>.
KILLS = [
    ("export", "model.onnx.partial"),      # the traced model being written
    ("lower", "dataflow.onnx"),            # the graph lowered, being written
    ("fold", "folded.onnx"),               # folding chosen, being written
    ("vectors", "golden.npy"),             # input vectors written, golden outputs not yet
    ("fifo_sizing", "sizing_depths"),      # pre-FIFO sources written and compiled, sizing simulations begin
    ("codegen", "run_hls.tcl"),            # C++ written, Tcl and driver not yet
    ("csim", "csim_output_beats"),         # testbench compiled, simulation about to start
    ("cyclesim", "cyclesim_depths"),       # simulator compiled, simulation about to start
    ("vendor", None),                      # HLS done; the stand-in vivado runs and sends the SIGTERM itself
    ("report", "report.json"),             # calibration written, report.json, plots and page not yet
]
MANIFEST_STAGES = ["export", "lower", "fold", "vectors", "fifo_sizing", "csim", "cyclesim", "vendor"]
# Wall-clock figures: the only report.json fields that may differ between two builds.
TIMINGS = [("timing_s",), ("csim", "seconds"), ("cyclesim", "seconds")]
# Not compared byte for byte: the compiled simulators and their compile stamps (they hold
# absolute paths), the page (it shows the timings), and the two files compared field by field.
NOT_BYTES = {"hls/csim", "hls/cyclesim", "hls/csim.hash", "hls/cyclesim.hash", "report.md", "report.json", "manifest.json"}
STALE = b"stale\n"
# `rubicon build` without the other subcommands' imports (torch among them: seconds per start).
RUN_BUILD = """import argparse, sys
from flow.cli import build
parser = argparse.ArgumentParser()
build.add_arguments(parser)
sys.exit(build.run(parser.parse_args()))"""


def comparable(report: dict, build_dir: Path) -> dict:
    """report.json less the wall-clock fields, the build directory's path made neutral."""
    report = json.loads(json.dumps(report).replace(str(build_dir), "<build>"))
    for path in TIMINGS:
        section = report
        for key in path[:-1]:
            section = section[key]
        del section[path[-1]]
    return report


def stages(build_dir: Path) -> dict:
    return {name: (s["key"], s["outputs"]) for name, s in Manifest(build_dir).data["stages"].items()}


def running(pid: int, wait_s: float = 2.0) -> bool:
    """Whether process `pid` is still running (a zombie is not) after up to `wait_s` seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        if state == "Z" or time.monotonic() > deadline:
            return state != "Z"
        time.sleep(0.05)


def stale_copy(reference: Path, out: Path):
    """The directory of an earlier, different build: every file of the reference with wrong
    content, and a manifest whose stage keys match nothing. A stage wrongly taken for done, or a
    file a stage no longer writes, leaves a stale file behind."""
    shutil.copytree(reference, out)
    manifest = Manifest(out)
    for f in out.rglob("*"):
        if f.is_file() and f != manifest.path:
            f.write_bytes(STALE)
    for entry in manifest.data["stages"].values():
        entry["key"] = "stale"
    manifest.save()


def assert_same_build(build_dir: Path, reference: Path):
    files = sorted(str(p.relative_to(build_dir)) for p in build_dir.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(reference)) for p in reference.rglob("*") if p.is_file())
    assert "vectors/golden.npy" in files and "hls/top.cpp" in files and "driver/rubicon_driver.py" in files
    for f in files:
        if f not in NOT_BYTES:
            assert (build_dir / f).read_bytes() == (reference / f).read_bytes(), f
        assert (build_dir / f).read_bytes() != STALE, f
    load = lambda d: comparable(json.loads((d / "report.json").read_text()), d)  # noqa: E731
    assert load(build_dir) == load(reference)
    assert stages(build_dir) == stages(reference) and sorted(stages(reference)) == sorted(MANIFEST_STAGES)
    for _, outputs in stages(build_dir).values():
        assert all((build_dir / o).exists() for o in outputs)


def test_killed_in_every_stage_and_rerun_ends_identical(tiny_build, vendor_tools, tmp_path):
    """One build directory, first holding stale files, run again and again: run k is killed
    inside step k (after redoing step k-1, killed in the run before); the last run finishes.
    Every killed run exits 143 with each step before the killed one recorded as the reference
    has it, and no other; the end state is the reference's."""
    cfg, _ = tiny_build
    out = tmp_path / "build"
    stale_copy(cfg.build_dir, out)
    reference = stages(cfg.build_dir)
    cmd = [sys.executable, "-c", RUN_BUILD, "--model", cfg.model, "--target", cfg.target, "-o", str(out),
           "--chunk-len", str(cfg.chunk_len), "--chunks", str(cfg.chunks)]
    env = {k: v for k, v in os.environ.items() if k not in (KILL_ENV, "FAKE_VIVADO_KILLS_BUILD")} | vendor_tools
    order = [step for step, _ in KILLS]
    for step, where in KILLS:
        pid_file = tmp_path / "vivado.pid"
        extra = {KILL_ENV: f"{step}:{where}"} if where else {"FAKE_VIVADO_KILLS_BUILD": str(pid_file)}
        run = subprocess.run(cmd, env=env | extra, capture_output=True, text=True, timeout=300)
        assert run.returncode == 128 + signal.SIGTERM, f"{step}: not killed (rc {run.returncode})\n{run.stderr[-3000:]}"
        assert "interrupted" in run.stderr.splitlines()[-1] and "run the same command again" in run.stderr
        before = [s for s in order[: order.index(step)] if s in MANIFEST_STAGES]
        done = [s for s, entry in stages(out).items() if entry == reference[s]]
        assert sorted(done) == sorted(before), f"killed in {step}, the manifest has {sorted(done)} done"
        if not where:  # the build stopped the tool it was running, child processes too, before it wrote its results
            assert not running(int(pid_file.read_text()))
            assert (out / "hls/rubicon_hls/sol1/syn/report/csynth.xml").read_text() == "<profile/>\n"
            assert not (out / "vivado/reports/utilization.rpt").exists()  # the stale one removed, no new one
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert_same_build(out, cfg.build_dir)
    # the vendor stage ran twice (killed in vivado, then redone), and the last run reused it
    assert tool_runs(vendor_tools, out) == ["vitis_hls", "vivado", "vitis_hls", "vivado"]


@pytest.fixture
def copied_build(tiny_build, vendor_tools, tmp_path, monkeypatch):
    """A copy of tiny_build to rebuild in, the stand-in tools on PATH."""
    cfg, _ = tiny_build
    shutil.copytree(cfg.build_dir, tmp_path / "build")
    for k, v in vendor_tools.items():
        monkeypatch.setenv(k, v)
    return BuildConfig(**{**cfg.__dict__, "out": tmp_path / "build"})


def test_rerun_reuses_every_stage_and_the_vendor_tools(tiny_build, copied_build, vendor_tools, monkeypatch):
    cfg, report = tiny_build
    out = copied_build.build_dir
    again = build(copied_build, progress=False)
    assert set(again["timing_s"].values()) == {0.0} and tool_runs(vendor_tools, out) == []
    assert comparable(again, out) == comparable(report, cfg.build_dir)
    # a setting the vendor flow reads is one of its inputs: the tools run again, nothing else does
    monkeypatch.setenv("RUBICON_HLS_STEPS", "csim csynth")
    changed = build(copied_build, progress=False)
    assert tool_runs(vendor_tools, out) == ["vitis_hls", "vivado"]
    assert [k for k, v in changed["timing_s"].items() if v > 0] == ["vendor", "total"]


@pytest.mark.parametrize("module", ["flow.report.render", "flow.codegen.driver", "flow.codegen.vendor"])
def test_a_missing_module_fails_the_build(copied_build, monkeypatch, module):
    """No build reports success without its page, Tcl or driver (an ImportError once did)."""
    monkeypatch.setitem(sys.modules, module, None)  # importing it now raises ImportError
    with pytest.raises(ImportError, match=module):
        build(copied_build, progress=False)


def test_a_stage_killed_while_rewriting_is_not_taken_for_done(tmp_path):
    """A recorded stage whose output went missing runs again with the same key; killed half-way
    through rewriting it, the stage must not be reused from its old entry on the next run."""
    b = Build(BuildConfig(target="pynq-z2", out=tmp_path))
    calls = []

    def work(text, interrupt=False):
        def run():
            calls.append(text)
            (tmp_path / "out.txt").write_text(text)
            if interrupt:
                raise KeyboardInterrupt
        return run

    b._stage("s", {"p": 1}, [], (), ["out.txt"], work("complete"))
    (tmp_path / "out.txt").unlink()
    with pytest.raises(KeyboardInterrupt):
        b._stage("s", {"p": 1}, [], (), ["out.txt"], work("half", interrupt=True))
    b._stage("s", {"p": 1}, [], (), ["out.txt"], work("complete"))
    assert calls == ["complete", "half", "complete"] and (tmp_path / "out.txt").read_text() == "complete"
    b._stage("s", {"p": 1}, [], (), ["out.txt"], work("again"))  # unchanged and present: reused
    assert calls[-1] == "complete"
