"""Calibration: report parsers on hand-written samples, factor fitting, the YAML store."""
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from flow.errors import FlowError
from flow.hw import calibration as C
from flow.hw import vendor_reports as V

DATA = Path(__file__).parent / "data" / "calibration"


def cut(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


# ---------------------------------------------------------------- parsers

def test_csynth_directory_keyed_by_module():
    got = V.parse_csynth_dir(DATA / "vitis_hls")
    assert set(got) == {"rubicall_top", "MVAU_0", "Thresholding_0", "DynamicPool_0"}
    assert got["MVAU_0"] == {"latency_cycles": 33603, "interval_cycles": 33601,
                             "lut": 5342, "ff": 3105, "bram18": 8, "dsp": 0, "uram": 0}
    assert got["rubicall_top"]["interval_cycles"] == 33601 and got["DynamicPool_0"]["dsp"] == 4


def test_csynth_old_vivado_hls_dsp48e_and_variable_latency():
    got = V.parse_csynth(DATA / "csynth_vivado_hls_2019.xml")
    assert got == {"latency_cycles": None, "interval_cycles": None, "lut": 1893, "ff": 1210,
                   "bram18": 6, "dsp": 2, "uram": 0}
    assert V.measured_metrics(got) == {"lut": 1893, "ff": 1210, "bram18": 6, "dsp": 2, "uram": 0}


def test_csynth_truncated_or_incomplete(tmp_path):
    src = DATA / "vitis_hls" / "MVAU_0_csynth.xml"
    with pytest.raises(FlowError, match=r"MVAU_0_csynth.xml: not well-formed XML"):
        V.parse_csynth(cut(src, tmp_path / "MVAU_0_csynth.xml", 0.6))
    text = src.read_text()
    start, end = text.index("<AreaEstimates>"), text.index("</AreaEstimates>") + len("</AreaEstimates>")
    (tmp_path / "x.xml").write_text(text[:start] + text[end:])
    with pytest.raises(FlowError, match=r"x.xml: HLS report misses AreaEstimates/Resources"):
        V.parse_csynth(tmp_path / "x.xml")
    (tmp_path / "y.xml").write_text(text.replace("<Worst-caseLatency>33603</Worst-caseLatency>", ""))
    with pytest.raises(FlowError, match=r"y.xml: HLS report misses .*Worst-caseLatency"):
        V.parse_csynth(tmp_path / "y.xml")
    with pytest.raises(FlowError, match=r"no csynth.xml"):
        V.parse_csynth_dir(tmp_path / "nothing_here")


def test_vivado_flat_7series_and_ultrascale():
    # 24.5 BRAM tiles = 18 RAMB36 + 13 RAMB18 = 49 BRAM18; flip-flops without the 2 latches
    assert V.parse_vivado_utilization(DATA / "vivado_utilization_placed.rpt") == {
        "lut": 14873, "ff": 17318, "bram18": 49, "dsp": 27, "uram": 0}
    assert V.parse_vivado_utilization(DATA / "vivado_utilization_u250_synth.rpt") == {
        "lut": 61288, "ff": 70412, "bram18": 172, "dsp": 112, "uram": 24}


def test_vivado_bram_from_ramb_rows_when_no_tile_row(tmp_path):
    text = (DATA / "vivado_utilization_placed.rpt").read_text()
    text = "\n".join(line for line in text.splitlines() if "Block RAM Tile" not in line)
    (tmp_path / "u.rpt").write_text(text)
    assert V.parse_vivado_utilization(tmp_path / "u.rpt")["bram18"] == 2 * 18 + 13


@pytest.mark.parametrize("fraction", [0.35, 0.55])
def test_vivado_truncated(tmp_path, fraction):
    f = cut(DATA / "vivado_utilization_placed.rpt", tmp_path / "util.rpt", fraction)
    with pytest.raises(FlowError, match=r"util.rpt: .*(cut off|no 'DSPs' row|no 'Slice LUTs')"):
        V.parse_vivado_utilization(f)


def test_vivado_hierarchical_keyed_by_instance_path():
    got = V.parse_vivado_hierarchical(DATA / "vivado_utilization_hierarchical.rpt")
    sdp = "top_wrapper/top_i/StreamingDataflowPartition_1/inst"
    assert got[f"{sdp}/MVAU_0"] == {"lut": 5391, "ff": 6218, "bram18": 2 * 4 + 2, "uram": 0, "dsp": 0}
    assert got[f"{sdp}/VVAU_0"]["dsp"] == 23 and got["top_wrapper/top_i/axi_dma_0"]["bram18"] == 21
    assert got["top_wrapper"]["lut"] == V.parse_vivado_utilization(DATA / "vivado_utilization_placed.rpt")["lut"]
    assert V.find_instance(got, "DynamicPool_0")["dsp"] == 4
    assert V.find_instance(got, "LabelSelect_0") is None
    with pytest.raises(FlowError, match="'inst' is ambiguous"):
        V.find_instance(got, "inst")
    with pytest.raises(FlowError, match="no 'Slice LUTs'.*hierarchical"):
        V.parse_vivado_utilization(DATA / "vivado_utilization_hierarchical.rpt")


def test_vivado_hierarchical_truncated(tmp_path):
    f = cut(DATA / "vivado_utilization_hierarchical.rpt", tmp_path / "hier.rpt", 0.7)
    with pytest.raises(FlowError, match=r"hier.rpt: a utilization table is cut off"):
        V.parse_vivado_hierarchical(f)


def test_yosys_text_and_json_agree():
    want = {"lut": 7 + 140 + 117 + 62 + 54 + 119, "lut_memory": 0, "ff": 503 + 9, "bram18": 2 + 2 * 1, "uram": 0, "dsp": 4}
    assert V.parse_yosys_stat(DATA / "yosys_stat_dynpool.txt") == want
    assert V.parse_yosys_stat(DATA / "yosys_stat_dynpool.json") == want
    acc = {"lut": 97, "lut_memory": 0, "ff": 98, "bram18": 0, "uram": 0, "dsp": 2}  # one module's own cells
    assert V.parse_yosys_stat(DATA / "yosys_stat_dynpool.txt", module="dynpool_acc") == acc
    assert V.parse_yosys_stat(DATA / "yosys_stat_dynpool.json", module="dynpool_acc") == acc


def test_yosys_whole_log_uses_last_statistics(tmp_path):
    first = (DATA / "yosys_stat_dynpool.txt").read_text().replace("LUT6                          119",
                                                                  "LUT6                            1")
    log = "2.50. Printing statistics.\n" + first + "\nEnd of script.\n" + (DATA / "yosys_stat_dynpool.txt").read_text()
    (tmp_path / "yosys.log").write_text(log)
    assert V.parse_yosys_stat(tmp_path / "yosys.log")["lut"] == 499


@pytest.mark.parametrize("name,fraction", [("yosys_stat_dynpool.txt", 0.8), ("yosys_stat_dynpool.json", 0.5)])
def test_yosys_truncated(tmp_path, name, fraction):
    f = cut(DATA / name, tmp_path / name, fraction)
    with pytest.raises(FlowError, match=rf"{name}: .*(truncated)"):
        V.parse_yosys_stat(f)


def test_yosys_ambiguous_without_hierarchy(tmp_path):
    text = (DATA / "yosys_stat_dynpool.txt").read_text()
    (tmp_path / "s.txt").write_text(text[: text.index("=== design hierarchy ===")])
    with pytest.raises(FlowError, match="modules dynpool_acc, dynpool and no design total"):
        V.parse_yosys_stat(tmp_path / "s.txt")
    assert V.parse_yosys_stat(tmp_path / "s.txt", module="dynpool")["ff"] == 316


def test_verilator_cycles(tmp_path):
    assert V.parse_verilator_cycles(DATA / "verilator_dynpool.log") == {"cycles": 8409}
    f = cut(DATA / "verilator_dynpool.log", tmp_path / "sim.log", 0.5)
    with pytest.raises(FlowError, match=r"sim.log: expected one 'cycles=<n>' line .* found 0 \(simulation did not finish"):
        V.parse_verilator_cycles(f)
    (tmp_path / "two.log").write_text("cycles=10\ncycles=12\n")
    with pytest.raises(FlowError, match="found 2"):
        V.parse_verilator_cycles(tmp_path / "two.log")
    with pytest.raises(FlowError, match="cannot read"):
        V.parse_verilator_cycles(tmp_path / "missing.log")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
def test_yosys_parser_on_live_synth_xilinx(tmp_path):
    (tmp_path / "t.v").write_text(
        "module m(input clk, input [7:0] a, b, output reg [15:0] p); always @(posedge clk) p <= a * b; endmodule\n"
        "module top(input clk, input [7:0] a, b, input [9:0] k, output reg [15:0] q, output [15:0] p);\n"
        "  reg [15:0] mem [0:1023]; always @(posedge clk) begin mem[k] <= {a, b}; q <= mem[k]; end\n"
        "  m u(.clk(clk), .a(a), .b(b), .p(p));\nendmodule\n")
    subprocess.run(["yosys", "-q", "-p", "read_verilog t.v; synth_xilinx -top top -family xc7; "
                    "tee -q -o s.txt stat; tee -q -o s.json stat -json"], cwd=tmp_path, check=True)
    text, js = V.parse_yosys_stat(tmp_path / "s.txt"), V.parse_yosys_stat(tmp_path / "s.json")
    assert text == js and text["dsp"] == 1 and text["bram18"] >= 1


# ---------------------------------------------------------------- fitting

def rec(node, op, est, meas, source="cyclesim"):
    return {"node": node, "op_type": op, "estimate": est, "measured": meas, "source": source}


RECORDS = [  # MVAU LUTs over-estimated ~20%, cycles a little under; DynamicPool FF under-estimated
    rec("MVAU_0", "MVAU", {"cycles": 1000, "lut": 5000}, {"cycles": 1030, "lut": 4100}, "vivado"),
    rec("MVAU_1", "MVAU", {"cycles": 2000, "lut": 3000}, {"cycles": 2090, "lut": 2600}, "yosys"),
    rec("MVAU_2", "MVAU", {"cycles": 500, "lut": 1000}, {"cycles": 505, "lut": 790}, "vivado"),
    rec("DynamicPool_0", "DynamicPool", {"cycles": 4200, "ff": 1000, "dsp": 0}, {"cycles": 4204, "ff": 1500, "dsp": 4}),
    rec("DynamicPool_1", "DynamicPool", {"cycles": 4200, "ff": 800, "bram18": 2}, {"cycles": 4203, "ff": 1300, "bram18": 0}),
]


def test_factor_is_geometric_mean_of_ratios():
    cal = C.fit_factors(RECORDS, target="pynq-z2")
    lut = cal.factors["MVAU"]["lut"]
    assert lut.factor == pytest.approx((4100 / 5000 * 2600 / 3000 * 790 / 1000) ** (1 / 3), rel=1e-5)
    assert lut.samples == 3 and lut.sources == ("vivado", "yosys")
    assert cal.factors["DynamicPool"]["ff"].factor == pytest.approx(math.sqrt(1.5 * 1300 / 800), rel=1e-5)
    assert cal.factors["DynamicPool"]["cycles"].sources == ("cyclesim",)


def test_zero_or_missing_pairs_are_skipped():
    cal = C.fit_factors(RECORDS + [rec("MVAU_3", "MVAU", {"cycles": 0, "lut": None}, {"cycles": 99, "ff": 3})])
    assert cal.factors["MVAU"]["cycles"].samples == 3 and "ff" not in cal.factors["MVAU"]
    assert "dsp" not in cal.factors["DynamicPool"]  # estimate 0 -> no ratio
    assert "bram18" not in cal.factors["DynamicPool"]  # measured 0 -> no ratio
    assert C.fit_factors([]).factors == {}


def test_apply_multiplies_known_metrics_only():
    cal = C.fit_factors(RECORDS)
    est = {"cycles": 1000, "lut": 5000, "ff": 700, "name": "x"}
    out = cal.apply("MVAU", est)
    assert out["lut"] == pytest.approx(5000 * cal.factor("MVAU", "lut"))
    assert out["cycles"] == pytest.approx(1000 * cal.factor("MVAU", "cycles"))
    assert out["ff"] == 700 and out["name"] == "x" and est["lut"] == 5000
    assert cal.apply("Thresholding", est) == est and cal.factor("Thresholding", "lut") == 1.0


def test_error_shrinks_after_calibration():
    cal = C.fit_factors(RECORDS)
    before, after = C.estimate_error(RECORDS), C.estimate_error(RECORDS, cal)
    assert before["MVAU"]["lut"] == pytest.approx((900 / 4100 + 400 / 2600 + 210 / 790) / 3)
    for op in ("MVAU", "DynamicPool"):
        for m in cal.factors[op]:
            assert after[op][m] < before[op][m]
    assert before["DynamicPool"]["dsp"] == 1.0 == after["DynamicPool"]["dsp"]  # estimate 0: nothing to scale
    assert "bram18" not in before["DynamicPool"]  # measured 0: relative error undefined
    f = cal.factors["MVAU"]["lut"]
    assert f.error_before == pytest.approx(before["MVAU"]["lut"], abs=1e-6)
    assert f.error_after == pytest.approx(after["MVAU"]["lut"], abs=1e-6)


def test_bad_records():
    with pytest.raises(FlowError, match="record 0 .*needs node"):
        C.fit_factors([{"node": "a"}])
    with pytest.raises(FlowError, match="'MVAU_0'.*source 'vivad'"):
        C.fit_factors([rec("MVAU_0", "MVAU", {}, {}, "vivad")])


def test_make_records_from_parsed_reports():
    hier = V.parse_vivado_hierarchical(DATA / "vivado_utilization_hierarchical.rpt")
    nodes = {"MVAU_0": ("MVAU", {"lut": 5000, "bram18": 10}), "LabelSelect_0": ("LabelSelect", {"lut": 90})}
    recs = C.make_records(nodes, hier, "vivado")
    assert [r["node"] for r in recs] == ["MVAU_0"] and recs[0]["measured"]["lut"] == 5391
    hls = C.make_records({"MVAU_0": ("MVAU", {"cycles": 33600})}, V.parse_csynth_dir(DATA / "vitis_hls"), "vitis_hls")
    assert hls[0]["measured"]["cycles"] == 33603


# ---------------------------------------------------------------- store

def test_save_load_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "TARGETS_DIR", tmp_path)
    cal = C.fit_factors(RECORDS, target="pynq-z2")
    path = C.save_calibration(cal, tmp_path / "pynq-z2.calibration.yaml")
    assert C.load_calibration(path) == cal
    data = yaml.safe_load(path.read_text())
    assert data["version"] == 1 and data["factors"]["MVAU"]["lut"]["sources"] == ["vivado", "yosys"]
    assert [p.name for p in tmp_path.iterdir()] == ["pynq-z2.calibration.yaml"]  # no temp file left


def test_missing_file_means_factors_of_one(tmp_path):
    cal = C.load_calibration(tmp_path / "none.calibration.yaml")
    assert cal.factors == {} and cal.apply("MVAU", {"lut": 5}) == {"lut": 5}


def test_target_names_resolve_in_targets_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "TARGETS_DIR", tmp_path)
    (tmp_path / "pynq-z2.yaml").write_text("name: pynq-z2\n")
    assert C.calibration_path("pynq-z2") == tmp_path / "pynq-z2.calibration.yaml"
    assert C.load_calibration("pynq-z2").target == "pynq-z2"
    C.save_calibration(C.fit_factors(RECORDS), "pynq-z2")
    assert yaml.safe_load((tmp_path / "pynq-z2.calibration.yaml").read_text())["target"] == "pynq-z2"
    assert C.load_calibration("pynq-z2").factor("MVAU", "lut") < 1
    with pytest.raises(FlowError, match="unknown target 'pynq-z3'"):
        C.load_calibration("pynq-z3")


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "TARGETS_DIR", tmp_path)
    path = C.save_calibration(C.fit_factors(RECORDS[:1]), tmp_path / "t.calibration.yaml")
    old = path.read_text()

    def boom(*a):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        C.save_calibration(C.fit_factors(RECORDS), path)
    assert path.read_text() == old and [p.name for p in tmp_path.iterdir()] == ["t.calibration.yaml"]


def test_writes_stay_in_targets_or_a_build_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "TARGETS_DIR", tmp_path / "targets")
    (tmp_path / "targets").mkdir()
    cal = C.fit_factors(RECORDS)
    build = tmp_path / "build"
    build.mkdir()
    (build / "report.json").write_text("{}")
    for where in (tmp_path / "elsewhere.calibration.yaml", build / "calibration.yaml", tmp_path / "targets/../x.calibration.yaml",
                  build / "report.json", "../x.calibration.yaml", "../pynq-z2"):
        with pytest.raises(FlowError, match="calibration is written only to"):
            C.save_calibration(cal, where)
    with pytest.raises(FlowError, match="unknown target"):
        C.save_calibration(cal, "pynq-z2")  # not a target in this targets/
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["report.json"]
    (build / "manifest.json").write_text("{}")  # now it is a build directory
    assert C.save_calibration(cal, build / "calibration.yaml").exists()
    assert C.save_calibration(cal, tmp_path / "targets/pynq-z2.calibration.yaml").exists()
    assert (build / "report.json").read_text() == "{}"


@pytest.mark.parametrize("text,message", [
    ("factors: {MVAU: {lut: {factor: 1.1", "not valid YAML"),
    ("- 1\n- 2\n", "needs `version: 1`"),
    ("version: 1\n", "needs a `factors` mapping"),
    ("version: 1\nfactors: {MVAU: {luts: {factor: 1, samples: 1, sources: [vivado]}}}", "factors.MVAU.luts: unknown metric"),
    ("version: 1\nfactors: {MVAU: {lut: {factor: 0, samples: 1, sources: [vivado]}}}", "factor must be a finite number > 0"),
    ("version: 1\nfactors: {MVAU: {lut: {factor: .nan, samples: 1, sources: [vivado]}}}", "finite number"),
    ("version: 1\nfactors: {MVAU: {lut: {factor: 1, samples: 0, sources: [vivado]}}}", "samples must be an integer"),
    ("version: 1\nfactors: {MVAU: {lut: {factor: 1, samples: 2, sources: [vendor]}}}", "sources must be"),
    ("version: 1\nfactors: {MVAU: {lut: {factor: 1}}}", "needs factor, samples and sources"),
    ("version: 1\nfactors: {MVAU: {lut: {factor: 1, samples: 1, sources: [yosys], error_after: -1}}}", "error_after"),
    ("version: 1\nfactors: {MVAU: {lut: {factor: !!python/name:os.system , samples: 1, sources: [yosys]}}}", "not valid YAML"),
])
def test_bad_yaml_is_one_clear_error(tmp_path, text, message):
    (tmp_path / "bad.calibration.yaml").write_text(text)
    with pytest.raises(FlowError, match=rf"bad.calibration.yaml: .*{message}"):
        C.load_calibration(tmp_path / "bad.calibration.yaml")
