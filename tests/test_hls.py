"""Kernels, code generation, C-simulation and cycle simulation: bit-exact against the golden
model under random legal foldings, edge-case inputs, the clear errors, and the build."""
import json

import numpy as np
import pytest
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from conftest import TINY_BUILD_CHUNKS, TINY_CHUNK
from flow.codegen.csim import run_csim, write_vectors
from flow.codegen.project import write_sources
from flow.errors import FlowError
from flow.hw.fold import apply_configs, graph_units, insert_dwcs, insert_fifos
from flow.sim.cyclesim import run_cyclesim, size_fifos


def edge_and_random_inputs(n_random: int, length: int, seed: int) -> np.ndarray:
    """Saturated maximum and minimum, zeros, alternating extremes, then random int8 chunks."""
    rng = np.random.default_rng(seed)
    edge = [np.full(length, 127), np.full(length, -128), np.zeros(length, dtype=np.int64),
            np.where(np.arange(length) % 2, 127, -128)]
    rand = list(rng.integers(-128, 128, size=(n_random, length)))
    return np.stack(edge + rand)[..., None]


def random_folding(model: ModelWrapper, seed: int) -> ModelWrapper:
    units = graph_units(model)
    rng = np.random.default_rng(seed)
    choice = [int(rng.integers(len(u.configs))) for u in units]
    return insert_fifos(insert_dwcs(apply_configs(model, units, choice)))


@pytest.mark.parametrize("seed", [1, 2])
def test_csim_and_cyclesim_bit_exact_under_random_foldings(tiny, tmp_path, seed):
    folded = random_folding(tiny, seed)
    ops = {n.op_type for n in folded.graph.node}
    assert {"MVAU", "VVAU", "ConvolutionInputGenerator1D", "FMPadding1D", "DuplicateStreams", "AddStreams",
            "Thresholding"} <= ops
    net = write_sources(folded, tmp_path / "hls")
    ints = edge_and_random_inputs(3, TINY_CHUNK, seed)
    golden = write_vectors(folded, net, ints, tmp_path / "vectors")
    produced, cmp = run_csim(tmp_path / "hls", net, tmp_path / "vectors")
    assert cmp.bit_exact and cmp.elements == golden.size == produced.size
    assert np.array_equal(produced, golden)
    assert len(np.unique(golden)) > 20  # the outputs really vary (not all saturated)
    depths, report = size_fifos(tmp_path / "hls", net, tmp_path / "vectors")
    assert report.comparison.bit_exact and report.comparison.elements == golden.size
    bottleneck = max(r["busy"] for r in report.nodes.values()) / report.chunks
    assert 0.98 * bottleneck <= report.cycles_per_chunk <= 1.2 * bottleneck + 200
    assert all(d >= 2 for d in depths.values())


@pytest.mark.parametrize("seed", [1, 2])
def test_dynamic_pooling_csim_and_cyclesim_bit_exact(tiny_dp, tmp_path, seed):
    """Features and predictor branches joined by the DynamicPool kernel; every logit and every
    chunk's trailer beat (valid frames, overflow) equal the golden model's."""
    folded = random_folding(tiny_dp, seed)
    assert "DynamicPool" in {n.op_type for n in folded.graph.node}
    net = write_sources(folded, tmp_path / "hls")
    assert net.side_stream == "frame_count" and net.out_beats == (TINY_CHUNK // 2) * 5 + 1
    golden = write_vectors(folded, net, edge_and_random_inputs(5, TINY_CHUNK, seed), tmp_path / "vectors")
    trailer = np.load(tmp_path / "vectors" / "golden_trailer.npy")
    assert len(set(trailer[:, 0].tolist())) > 1 and trailer[:, 1].any() and not trailer[:, 1].all()
    produced, cmp = run_csim(tmp_path / "hls", net, tmp_path / "vectors")
    assert cmp.bit_exact and cmp.elements == golden.size + trailer.size
    assert np.array_equal(produced, golden)
    _, report = size_fifos(tmp_path / "hls", net, tmp_path / "vectors")
    assert report.comparison.bit_exact and report.comparison.elements == golden.size + trailer.size


def test_all_default_depth_fifos_deadlock_on_the_residual_branch(tiny, tmp_path):
    folded = insert_fifos(insert_dwcs(tiny))
    net = write_sources(folded, tmp_path / "hls")
    write_vectors(folded, net, edge_and_random_inputs(0, TINY_CHUNK, 0), tmp_path / "vectors")
    with pytest.raises(FlowError, match=r"deadlock after \d+ cycles: nodes waiting: .*DuplicateStreams.*full FIFOs"):
        run_cyclesim(tmp_path / "hls", net, tmp_path / "vectors")


def test_a_folding_that_does_not_divide_is_named(tiny, tmp_path):
    bad = ModelWrapper(tiny.model.__deepcopy__())
    mvau = next(n for n in bad.graph.node if n.op_type == "MVAU")
    getCustomOp(mvau).set_nodeattr("PE", 5)  # MH = 12
    with pytest.raises(FlowError, match=rf"{mvau.name} \(MVAU\): PE = 5 does not divide 12"):
        write_sources(bad, tmp_path / "hls")


def test_an_op_without_a_kernel_is_named(tiny, tmp_path):
    bad = ModelWrapper(tiny.model.__deepcopy__())
    head = bad.graph.node[-1]
    bad.graph.node.append(helper.make_node("LabelSelect", [head.output[0]], ["labels"], name="LabelSelect_0",
                                           domain=head.domain, Labels=5, K=1, inputDataType="INT24", outputDataType="UINT3"))
    with pytest.raises(FlowError, match=r"LabelSelect_0 \(LabelSelect\): no HLS kernel for this op"):
        write_sources(bad, tmp_path / "hls")


def test_mismatched_beat_widths_need_a_converter(tiny, tmp_path):
    bad = ModelWrapper(tiny.model.__deepcopy__())
    mvau = next(n for n in bad.graph.node if n.op_type == "MVAU")
    getCustomOp(mvau).set_nodeattr("PE", 4)
    with pytest.raises(FlowError, match="insert a data-width converter"):
        write_sources(bad, tmp_path / "hls")


def test_build_end_to_end_and_rerun_reuses_stages(tiny_build, vendor_tools, monkeypatch):
    """The build of conftest's tiny_build (stand-in vendor tools on PATH), and a rerun."""
    from flow.build.pipeline import build

    cfg, report = tiny_build
    for stage in ("csim", "cyclesim"):
        assert report[stage]["bit_exact"] and report[stage]["mismatches"] == 0
        assert report[stage]["elements_compared"] == TINY_BUILD_CHUNKS * (TINY_CHUNK // 3) * 5
    assert report["cyclesim"]["latency_cycles"] > 0 and report["cyclesim"]["cycles_per_chunk"] > 0
    assert abs(report["estimate_vs_cyclesim"]["relative_error"]) < 0.10
    assert all(f["depth"] >= 2 for f in report["fifos"]) and report["nodes"][0]["estimate"]["lut"] > 0
    on_disk = json.loads((cfg.build_dir / "report.json").read_text())
    assert on_disk["csim"] == report["csim"]
    for f in ("hls/top.cpp", "hls/run_hls.tcl", "vivado/build_bd.tcl", "driver/rubicon_driver.py", "vectors/golden.npy",
              "vectors/csim_output.npy", "vectors/cyclesim_output.npy", "manifest.json", "report.md"):
        assert (cfg.build_dir / f).exists(), f
    assert report["vendor"]["csynth_xml"] == "hls/rubicon_hls/sol1/syn/report/csynth.xml"  # relative to the build
    assert report["vendor"]["bitstream"] == "driver/rubicon.bit" and (cfg.build_dir / "driver/rubicon.bit").exists()
    for k, v in vendor_tools.items():
        monkeypatch.setenv(k, v)
    again = build(cfg, progress=False)
    assert again["timing_s"]["total"] == 0.0  # every stage reused from the manifest
    assert again["csim"] == report["csim"]


def test_build_end_to_end_with_dynamic_pooling(tiny_dp_basecaller, tmp_path):
    """The build on a dynamic-pooling model: folded to PYNQ-Z2, C-sim and cycle sim bit-exact
    (logits and the per-chunk trailer), the driver reads the trailer."""
    from flow.build.pipeline import BuildConfig, build
    from flow.nn.checkpoint import save_model

    save_model(tiny_dp_basecaller, tmp_path / "tiny_dp.pt")
    cfg = BuildConfig(model=str(tmp_path / "tiny_dp.pt"), target="pynq-z2", out=tmp_path / "build", chunk_len=TINY_CHUNK,
                      chunks=5)
    report = build(cfg, progress=False)
    for stage in ("csim", "cyclesim"):
        assert report[stage]["bit_exact"] and report[stage]["elements_compared"] == 5 * (TINY_CHUNK // 2) * 5 + 5 * 2
    assert "DynamicPool" in {n["op_type"] for n in report["nodes"]}
    assert "TRAILER = 1" in (tmp_path / "build" / "driver" / "rubicon_driver.py").read_text()


def test_shipped_reference_model_through_csim(tmp_path):
    """The shipped rubicall_s (grouped, depthwise, mixed 4/6/8-bit) end to end in C-simulation."""
    from flow.export.qonnx_export import export_model
    from flow.ir.lower import lower_qonnx
    from flow.nn.checkpoint import load_model

    model, _ = load_model("rubicall_s")
    graph = random_folding(lower_qonnx(export_model(model, tmp_path / "m.onnx", 240)), seed=5)
    net = write_sources(graph, tmp_path / "hls")
    golden = write_vectors(graph, net, edge_and_random_inputs(2, 240, 5), tmp_path / "vectors")
    _, cmp = run_csim(tmp_path / "hls", net, tmp_path / "vectors")
    assert cmp.bit_exact and cmp.elements == golden.size == 6 * 80 * 5
