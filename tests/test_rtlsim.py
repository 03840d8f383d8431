"""The whole accelerator as RTL twins (flow.codegen.rtl_top) under Verilator (`rubicon rtlsim`):
bit-exact with the golden model over every output element, cycles beside the C++ cycle simulation."""
import json
import shutil

import numpy as np
import pytest

from conftest import TINY_BUILD_CHUNKS, TINY_CHUNK
from flow.cli import main
from flow.errors import FlowError

pytestmark = pytest.mark.skipif(shutil.which("verilator") is None, reason="needs verilator")


def test_tiny_accelerator_in_rtl_is_bit_exact_and_keeps_the_cycle_count(tiny_build, tmp_path, capsys):
    cfg, report = tiny_build
    build = tmp_path / "build"
    shutil.copytree(cfg.build_dir, build)
    assert main(["rtlsim", build]) == 0
    r = json.loads((build / "report.json").read_text())["rtlsim"]
    assert r["bit_exact"] and r["mismatches"] == 0
    assert r["elements_compared"] == TINY_BUILD_CHUNKS * (TINY_CHUNK // 3) * 5 == report["cyclesim"]["elements_compared"]
    # the acceptance bound: RTL cycles per chunk within 2% of the C++ cycle simulation
    assert abs(r["cycles_per_chunk"] - report["cyclesim"]["cycles_per_chunk"]) <= 0.02 * report["cyclesim"]["cycles_per_chunk"]
    assert r["vs_cyclesim"] == pytest.approx((r["cycles_per_chunk"] - report["cyclesim"]["cycles_per_chunk"])
                                             / report["cyclesim"]["cycles_per_chunk"])
    produced = np.load(build / "vectors" / "rtlsim_output.npy")
    np.testing.assert_array_equal(produced, np.load(build / "vectors" / "golden.npy"))
    assert "bit-exact" in capsys.readouterr().out


def test_a_wrong_weight_is_a_mismatch_not_a_pass(tiny_build, tmp_path):
    """The co-simulation compares for real: the first layer's weights changed in the graph the RTL is generated from
    (the golden vectors stay those of the right weights) shows as mismatches."""
    from qonnx.core.modelwrapper import ModelWrapper

    from flow.sim.rtlsim import run_rtlsim
    cfg, _ = tiny_build
    build = tmp_path / "build"
    shutil.copytree(cfg.build_dir, build)
    model = ModelWrapper(str(build / "final.onnx"))
    node = next(n for n in model.graph.node if n.op_type == "MVAU")
    w = model.get_initializer(node.input[1])
    model.set_initializer(node.input[1], -w)  # every weight of the first layer negated (its range is symmetric)
    model.save(str(build / "final.onnx"))
    broken = run_rtlsim(build)
    assert not broken["bit_exact"] and broken["mismatches"] > 0


def test_rtlsim_needs_a_finished_build(tmp_path):
    assert main(["rtlsim", tmp_path]) == 2
    with pytest.raises(FlowError, match="final.onnx"):
        from flow.sim.rtlsim import run_rtlsim
        run_rtlsim(tmp_path)


def test_synth_time_budget_names_every_node_it_left(tiny_build, tmp_path):
    """A spent time budget synthesises nothing more and lists each node left; the exit status says so."""
    cfg, _ = tiny_build
    build = tmp_path / "build"
    shutil.copytree(cfg.build_dir, build)
    assert main(["synth", build, "--budget-s", "0"]) == 1
    synth = json.loads((build / "report.json").read_text())["synth"]
    from qonnx.core.modelwrapper import ModelWrapper
    names = [n.name for n in ModelWrapper(str(build / "final.onnx")).graph.node]
    assert synth["skipped"] == names and synth["nodes"] == 0


@pytest.mark.slow
def test_synth_measures_every_node_of_a_build(tiny_build, tmp_path, monkeypatch):
    """Yosys on every node (a relative build path, as a user types it): each node and FIFO has measured
    figures, the totals are their sums, and a second run is served from the cache."""
    cfg, _ = tiny_build
    shutil.copytree(cfg.build_dir, tmp_path / "build")
    monkeypatch.chdir(tmp_path)
    assert main(["synth", "build"]) == 0
    report = json.loads((tmp_path / "build" / "report.json").read_text())
    rows = report["nodes"] + report["fifos"]
    assert all("measured" in r for r in rows)
    for r in ("lut", "ff", "bram18", "dsp"):
        assert report["synth"]["totals"][r] == sum(row["measured"][r] for row in rows)
    assert report["synth"]["fits"] and report["synth"]["totals"]["lut"] > 0
    from flow.sim.synth import synth_build
    again = synth_build(tmp_path / "build", "zynq-7000", progress=False)
    assert all(n["cached"] for n in again.nodes.values())


def test_synth_calibration_update_fits_the_measured_nodes_and_keeps_the_rest(tiny_build, tmp_path):
    """Nodes measured at exactly twice their raw LUT estimate give a LUT factor of 2 per op type (with
    at least 3 nodes: fewer have nothing to check a factor on); stored factors of op types the build
    does not contain stay as they were."""
    import yaml

    from flow.cli.synth import update_calibration
    from flow.hw.calibration import load_calibration
    from flow.hw.targets import load_target

    cfg, _ = tiny_build
    report = json.loads((cfg.build_dir / "report.json").read_text())
    for row in report["nodes"]:
        row["measured"] = {"lut": 2 * row["estimate"]["lut"], "ff": row["estimate"]["ff"] or 1,
                           "bram18": row["estimate"]["bram18"]}
    build = tmp_path / "build"
    shutil.copytree(cfg.build_dir, build)
    out = build / "calibration.yaml"  # a build's own file: the test leaves targets/ alone
    update_calibration(build, report, load_target("pynq-z2"), out)
    written = yaml.safe_load(out.read_text())["factors"]
    counts = {}
    for row in report["nodes"]:
        if row["estimate"]["lut"] > 0:
            counts[row["op_type"]] = counts.get(row["op_type"], 0) + 1
    fitted = [op for op, n in counts.items() if n >= 3]
    assert fitted
    for op in fitted:
        assert written[op]["lut"]["factor"] == pytest.approx(2.0, rel=1e-4)
        assert "offset" not in written[op]["lut"]
    # measured = 3·estimate − 40: an affine fit would give small nodes a negative cost, floored to 0,
    # and the search no gradient from them; the build's factors are pure factors
    for row in report["nodes"]:
        row["measured"]["lut"] = max(1, 3 * row["estimate"]["lut"] - 40)
    refitted = update_calibration(build, report, load_target("pynq-z2"), out)["factors"]
    written = yaml.safe_load(out.read_text())["factors"]
    assert refitted and all("offset" not in written[key].get("lut", {}) for key in refitted)
    stored = load_calibration("pynq-z2").factors
    untouched = [k for k in stored if k.split("[")[0] not in counts]
    assert untouched
    for key in untouched:
        assert {m: f["factor"] for m, f in written[key].items()} == {m: f.factor for m, f in stored[key].items()}
