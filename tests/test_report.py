"""report.json: the documented schema, its validator, the Markdown page with plots, `rubicon report`."""
import copy
import json
import re
from pathlib import Path

import pytest

from flow.cli import main
from flow.errors import FlowError
from flow.report import PLOTS, load_report, render_report, validate_report
from flow.report.render import render_markdown
from flow.report.schema import SCHEMA, schema_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs" / "report_schema.md"
RES = ("lut", "ff", "bram18", "uram", "dsp")


def _cost(cycles, lut, ff, bram18, dsp, uram=0):
    return {"cycles": cycles, "lut": lut, "ff": ff, "bram18": bram18, "uram": uram, "dsp": dsp}


def sample_report() -> dict:
    """A report shaped like the PYNQ-Z2 build of rubicall_pynq (numbers made up but consistent)."""
    chunk, stride, frames, chunks = 4200, 3, 1400, 8
    layers = [  # (name suffix, op, PE, SIMD, cycles, lut, ff, bram18, dsp)
        ("FMPadding_0", "FMPadding1D", None, 1, 4208, 60, 90, 0, 0),
        ("SWG_0", "ConvolutionInputGenerator1D", None, 1, 12600, 310, 420, 1, 0),
        ("MVAU_0", "MVAU", 4, 9, 16800, 2900, 3100, 2, 9),
        ("Thresholding_0", "Thresholding", 4, None, 16800, 820, 600, 3, 0),
    ]
    for i in range(1, 8):
        layers += [(f"FMPadding_{i}", "FMPadding1D", None, 2, 67300, 80, 110, 0, 0),
                   (f"SWG_{i}", "ConvolutionInputGenerator1D", None, 2, 604800 + 1000 * i, 420, 600, 2, 0),
                   (f"VVAU_{i}", "VVAU", 2, 3, 604800 + 1000 * i, 1200, 1900, 1, 0),
                   (f"MVAU_{i}", "MVAU", 8, 12, 604800, 3200 + 10 * i, 4100, 4, 0)]
    layers += [("MVAU_8", "MVAU", 8, 16, 627200, 4200, 4300, 6, 0),
               ("DWC_0", "StreamingDataWidthConverter", None, None, 5600, 40, 70, 0, 0),
               ("MVAU_9", "MVAU", 5, 8, 11200, 1100, 1300, 1, 10)]
    nodes = []
    for name, op, pe, simd, cyc, lut, ff, bram, dsp in layers:
        node = {"name": name, "op_type": op, "PE": pe, "SIMD": simd, "in_width": simd or pe or 1,
                "out_width": pe or simd or 1, "estimate": _cost(cyc, lut, ff, bram, dsp),
                "calibrated": _cost(cyc * 1.02, lut * 1.1, ff * 0.95, bram, dsp),
                "cyclesim": {"busy": int(cyc * chunks * 0.99), "starved": int(cyc * 0.3), "blocked": int(cyc * 0.1)}}
        nodes.append(node)
    fifos = []
    for a, b in zip(nodes, nodes[1:]):
        depth = 2 if "SWG" not in b["name"] else 64
        fifos.append({"name": f"s_{a['name']}_{b['name']}", "producer": a["name"], "consumer": b["name"],
                      "depth": depth, "high_water": max(1, depth - 3), "width_bits": 8 * a["out_width"],
                      "estimate": {"lut": 12, "ff": 20, "bram18": 0, "uram": 0, "dsp": 0}})
    totals = {r: sum(n["estimate"][r] for n in nodes) + sum(f["estimate"][r] for f in fifos) for r in RES}
    cal = {r: sum(n["calibrated"][r] for n in nodes) + sum(f["estimate"][r] for f in fifos) for r in RES}
    est_cpc, sim_cpc = 627200, 629611.0
    cps = 100e6 / sim_cpc
    return {
        "schema_version": 1, "model": "rubicall_pynq", "target": "pynq-z2", "board": "PYNQ-Z2",
        "part": "xc7z020clg400-1", "clock_mhz": 100.0, "chunk_len": chunk, "stride": stride, "frames_out": frames,
        "classes": 5, "budget": {"lut": 53200, "ff": 106400, "bram18": 280, "uram": 0, "dsp": 220}, "headroom": 0.15,
        "folding": {"mode": "fit", "target": None, "bottleneck": "MVAU_8", "cycles_per_chunk": est_cpc},
        "nodes": nodes, "fifos": fifos,
        "estimate": {"totals": totals, "calibrated_totals": cal, "cycles_per_chunk": est_cpc, "bottleneck": "MVAU_8"},
        "csim": {"bit_exact": True, "elements_compared": 56000, "mismatches": 0, "chunks": chunks, "seconds": 3.2},
        "cyclesim": {"bit_exact": True, "elements_compared": 56000, "mismatches": 0, "chunks": chunks,
                     "latency_cycles": 641523, "cycles_per_chunk": sim_cpc, "seconds": 21.7, "total_cycles": 5048800},
        "estimate_vs_cyclesim": {"cycles_per_chunk_estimate": est_cpc, "cycles_per_chunk_simulated": sim_cpc,
                                 "relative_error": (est_cpc - sim_cpc) / sim_cpc},
        "throughput": {"chunks_per_s": cps, "samples_per_s": cps * chunk, "bases_per_s": cps * chunk * 0.1032,
                       "bases_per_sample": 0.1032, "bases_per_sample_source": "simulated lambda, 20 reads",
                       "minion_samples_per_s": 2048000, "minion_fraction": cps * chunk / 2048000,
                       "one_sample_per_clock_samples_per_s": 1e8, "one_sample_per_clock_fraction": cps * chunk / 1e8},
        "calibration": {"file": "targets/pynq-z2.calibration.yaml",
                        "error_before": {"MVAU": {"lut": 0.1093, "cycles": 0.004}, "VVAU": {"lut": 0.21}},
                        "error_after": {"MVAU": {"lut": 0.0121, "cycles": 0.001}, "VVAU": {"lut": 0.03}}},
        "timing_s": {"export": 4.1, "lower": 1.3, "fold": 0.4, "codegen": 0.6, "csim": 3.2, "cyclesim": 21.7,
                     "total": 31.3},
        "vendor": {"skipped": "vitis_hls/vivado not on PATH; run hls/run_hls.tcl then vivado/build_bd.tcl where they are"},
        "artifacts": {"tcl_hls": "hls/run_hls.tcl", "tcl_vivado": "vivado/build_bd.tcl",
                      "driver": "driver/rubicon_driver.py"},
        "manifest_hash": "abc123",  # an unknown extra key: allowed
    }


def cost_only_report() -> dict:
    """VCK190 AI Engine: cost model only; no C-sim, no cycle sim, no FIFOs, no throughput section."""
    r = sample_report()
    for key in ("csim", "cyclesim", "estimate_vs_cyclesim", "fifos", "calibration", "vendor", "artifacts",
                "throughput", "timing_s"):
        del r[key]
    for n in r["nodes"]:
        del n["cyclesim"], n["calibrated"]
    del r["estimate"]["calibrated_totals"]
    r.update(target="vck190", board="VCK190", part="xcvc1902-vsva2197-2MP-e-S", clock_mhz=300.0,
             budget={"lut": 899840, "ff": 1799680, "bram18": 1934, "uram": 463, "dsp": 1968},
             aie={"tiles": 36, "cycles_per_chunk": 52000, "clock_mhz": 1250})
    return r


# ---------------------------------------------------------------- schema

def test_sample_reports_validate():
    validate_report(sample_report(), "sample")
    validate_report(cost_only_report(), "cost-only")
    # the VCK190 build passes its target's aie entry through
    validate_report({**cost_only_report(), "aie": {"tiles": 400, "clock_mhz": 1250, "int8_macs_per_cycle": 128,
                                                   "memory_kib_per_tile": 32}}, "vck190")
    json.dumps(sample_report(), allow_nan=False)  # the sample is plain JSON


@pytest.mark.parametrize("edit, field, what", [
    (lambda r: r.pop("model"), "model", "missing"),
    (lambda r: r["csim"].pop("mismatches"), "csim.mismatches", "missing"),
    (lambda r: r["nodes"][3]["estimate"].update(lut="2900"), "nodes[3].estimate.lut", "expected number, got string"),
    (lambda r: r["cyclesim"].update(bit_exact=1), "cyclesim.bit_exact", "expected bool, got int"),
    (lambda r: r["fifos"][0].update(depth=2.5), "fifos[0].depth", "expected int"),
    (lambda r: r.update(clock_mhz=float("nan")), "clock_mhz", "expected number"),
    (lambda r: r["budget"].update(dsp=-1), "budget.dsp", "must be >= 0"),
    (lambda r: r.update(schema_version=2), "schema_version", "must be one of 1"),
    (lambda r: r["calibration"]["error_after"]["MVAU"].update(lut="low"), "calibration.error_after.MVAU.lut",
     "expected number or null"),
    (lambda r: r.update(nodes={}), "nodes", "expected array, got object"),
    (lambda r: r["nodes"][1].update(name="MVAU_0"), "nodes[2].name", "repeats"),
])
def test_validation_names_the_first_bad_field(edit, field, what):
    r = sample_report()
    edit(r)
    with pytest.raises(FlowError) as err:
        validate_report(r, "build/x/report.json")
    msg = str(err.value)
    assert msg.startswith("build/x/report.json: field `" + field + "`") and what in msg, msg


def test_optional_sections_and_extra_keys_are_allowed():
    r = sample_report()
    for key in ("csim", "cyclesim", "throughput", "vendor", "folding", "headroom", "board"):
        del r[key]
    r["nodes"][0]["future_figure"] = {"anything": [1, 2]}
    r["vendor"] = {"vitis_hls": {"lut": 30000, "latency_cycles": 640000}, "vivado": {"lut": 31000, "wns_ns": 0.4}}
    validate_report(r, "x")


def test_docs_list_every_field():
    text = DOCS.read_text()
    assert schema_markdown() in text, "docs/report_schema.md is out of date: python -m flow.report.schema"
    for unit in ("MHz", "cycles", "samples/s", "bases/s", "BRAM18"):
        assert unit in text
    assert len(SCHEMA.fields) >= 25


# ---------------------------------------------------------------- rendering

@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("render")
    md = render_report(sample_report(), out)
    return out, md


def test_render_writes_page_and_plots(rendered):
    out, md = rendered
    assert md == out / "report.md"
    for png in PLOTS:
        data = (out / png).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000, png
    text = md.read_text()
    for png in PLOTS:
        assert f"]({png})" in text
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))


def test_page_carries_the_key_numbers(rendered):
    text = rendered[1].read_text()
    assert "# Accelerator report: rubicall_pynq on pynq-z2" in text and "xc7z020clg400-1" in text and "100 MHz" in text
    # verification
    assert re.search(r"\| C-simulation \| yes \| 56,000 \| 0 \| 8 \|", text)
    assert re.search(r"\| cycle simulation \| yes \| 56,000 \| 0 \| 8 \|", text)
    assert "641,523 cycles" in text  # latency
    # throughput: 100 MHz / 629,611 cycles = 158.83 chunks/s; × 4200 = 667,079 samples/s
    assert "| chunks/s | 158.8" in text and "667,079" in text
    assert "0.326× (32.6%)" in text  # vs MinION 2,048,000 samples/s
    assert "2,048,000" in text and "| 0.7% |" in text  # vs one sample per clock (1e8)
    assert "68,843" in text  # bases/s = 667,079 × 0.1032
    # effective (new) signal, derived: 4,200 / 7 = 600 samples overlap, 158.828 × 3,600 = 571,782
    assert "600 of each chunk" in text and "571,782" in text
    # resources vs budget
    totals = sample_report()["estimate"]["totals"]
    assert f"| LUT | 53,200 | 45,220 | {totals['lut']:,} | {100 * totals['lut'] / 53200:.1f}% |" in text
    # agreement
    assert "-0.38% (within ±10%)" in text
    # calibration table
    assert "| `MVAU` | LUT | 10.9% | 1.2% |" in text
    # per node, bottleneck marked; FIFO table; timings; vendor skipped line; artifact links
    assert "| 32 | **MVAU_8** (bottleneck) | MVAU | 8 | 16 | — | 627,200 |" in text  # no styles in this report
    assert "| `s_MVAU_0_Thresholding_0` | MVAU_0 → Thresholding_0 | 32 | 2 | 1 |" in text
    assert "| **total** | **31.30** |" in text and "| cyclesim | 21.70 |" in text
    assert "Skipped: vitis_hls/vivado not on PATH" in text
    assert "[`hls/run_hls.tcl`](hls/run_hls.tcl)" in text


def test_render_is_deterministic_and_leaves_the_report_alone(rendered, tmp_path):
    out, _ = rendered
    r = sample_report()
    before = copy.deepcopy(r)
    render_report(r, tmp_path)
    assert r == before
    for name in ("report.md",) + PLOTS:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_cost_model_only_report_renders(tmp_path):
    (tmp_path / "fifos.png").write_bytes(b"stale")  # from an earlier render: removed, not linked
    md = render_report(cost_only_report(), tmp_path)
    text = md.read_text()
    for png in ("utilisation.png", "resources.png", "cycles.png"):
        assert (tmp_path / png).stat().st_size > 10_000
        assert f"]({png})" in text
    assert not (tmp_path / "fifos.png").exists() and "fifos.png" not in text
    assert re.search(r"\| C-simulation \| not run \|", text) and re.search(r"\| cycle simulation \| not run \|", text)
    assert "### AI Engine (cost model)" in text and "| tiles | 36 |" in text
    # throughput derived from the estimate: 300 MHz / 627,200 cycles = 478.3 chunks/s
    assert "| chunks/s | 478.3" in text and "Derived here" in text
    assert "| URAM | 463 |" in text
    assert "## Vendor tools\n\nnot run" in text


def test_vendor_figures_render_against_the_estimate(tmp_path):
    r = sample_report()
    r["vendor"] = {"vitis_hls": {"lut": 30000, "ff": 41000, "latency_cycles": 640000, "interval_cycles": 627300},
                   "vivado": {"lut": 31000, "bram18": 40, "timing": {"wns_ns": 0.4}}}
    text = render_markdown(r, tmp_path)
    assert "### vitis_hls" in text and "| `latency_cycles` | 640,000 |" in text
    assert "| LUT | 31,000 |" in text and "| `timing.wns_ns` | 0.4 |" in text


# ---------------------------------------------------------------- CLI

def _build_dir(tmp_path, report) -> Path:
    build = tmp_path / "build" / "rubicall_pynq"
    build.mkdir(parents=True)
    (build / "report.json").write_text(json.dumps(report, indent=1))
    return build


def test_cli_renders_into_the_build_dir(tmp_path, capsys):
    build = _build_dir(tmp_path, sample_report())
    assert main(["report", build]) == 0
    assert capsys.readouterr().out.strip() == str(build / "report.md")
    assert all((build / p).stat().st_size > 0 for p in PLOTS)
    assert load_report(build / "report.json")["model"] == "rubicall_pynq"


def test_cli_out_dir_gets_a_standalone_copy(tmp_path, capsys):
    build = _build_dir(tmp_path, sample_report())
    out = tmp_path / "reports" / "pynq-z2" / "rubicall_pynq"
    assert main(["report", build, "--out", out]) == 0
    assert capsys.readouterr().out.strip() == str(out / "report.md")
    assert (out / "report.json").read_bytes() == (build / "report.json").read_bytes()
    assert all((out / p).stat().st_size > 0 for p in PLOTS) and not (build / "report.md").exists()
    # artifact links still reach the build directory
    assert "(../../../build/rubicall_pynq/hls/run_hls.tcl)" in (out / "report.md").read_text()


def test_cli_missing_report_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", tmp_path / "empty"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "report.json does not exist" in err and "rubicon build" in err
    assert not (tmp_path / "empty" / "report.md").exists()


@pytest.mark.parametrize("content, what", [
    ('{"schema_version": 1, "model": "m"', "not valid JSON"),
    (json.dumps({**sample_report(), "nodes": [{"name": "x"}]}), "field `nodes[0].op_type` missing"),
])
def test_cli_bad_report_is_one_clear_error(tmp_path, capsys, content, what):
    build = tmp_path / "b"
    build.mkdir()
    (build / "report.json").write_text(content)
    assert main(["report", build]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(build / "report.json") in err and what in err, err
    assert not (build / "report.md").exists() and not list(build.glob("*.png"))

