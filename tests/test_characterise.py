"""Calibration by op type and implementation style, and the characterisation sweep (flow.sim.characterise):
factors recovered from synthetic records, held-out errors against hand computations, the style
fall-back, style factors reaching exactly the nodes of their style in estimate_graph and folding
units, and a tiny real Yosys sweep."""
import json
import shutil

import pytest
import yaml
from qonnx.custom_op.registry import getCustomOp
from test_estimate import _graph

import flow.sim.synth
from flow.errors import FlowError
from flow.hw import calibration as C
from flow.hw import estimate as E
from flow.hw import fold as Fo
from flow.ir.ops import MVAU, ConvolutionInputGenerator1D, FMPadding1D, StreamingFIFO, Thresholding, VVAU
from flow.sim import characterise as K


def test_yosys_luts_count_memory_luts_as_the_estimates_do():
    got = K.measured_as_estimated({"lut": 100, "lut_memory": 12, "ff": 5, "bram18": 1, "uram": 0, "dsp": 2})
    assert got == {"lut": 112, "lut_memory": 12, "ff": 5, "bram18": 1, "uram": 0, "dsp": 2}


def rec(op, style, est, meas, node="n"):
    return {"node": node, "op_type": op, "style": style, "estimate": est, "measured": meas, "source": "yosys"}


# Style lut,parallel: ratios 0.5·2 and 0.5/2 (geometric mean 0.5); style dsp,search: 2·1.5 and 2/1.5 (mean 2);
# the op type over all four: (1 · 0.25 · 3 · 4/3)^(1/4) = 1.
FIT = [rec("MVAU", "lut,parallel", {"lut": 1000}, {"lut": 1000}),
       rec("MVAU", "lut,parallel", {"lut": 400}, {"lut": 100}),
       rec("MVAU", "dsp,search", {"lut": 100}, {"lut": 300}),
       rec("MVAU", "dsp,search", {"lut": 300}, {"lut": 400})]


def test_fit_recovers_style_and_op_factors():
    cal = C.fit_factors(FIT)
    assert cal.factors["MVAU[lut,parallel]"]["lut"].factor == pytest.approx(0.5, rel=1e-5)
    assert cal.factors["MVAU[dsp,search]"]["lut"].factor == pytest.approx(2.0, rel=1e-5)
    assert cal.factors["MVAU"]["lut"].factor == pytest.approx(1.0, rel=1e-5)
    assert cal.factors["MVAU"]["lut"].samples == 4 and cal.factors["MVAU[dsp,search]"]["lut"].samples == 2
    # records without a style (a build's cycle records) fit the op type only, as before
    assert set(C.fit_factors([rec("VVAU", "", {"cycles": 10}, {"cycles": 11})]).factors) == {"VVAU"}


def test_held_out_error_by_hand():
    cal = C.fit_factors(FIT)
    held = [rec("MVAU", "lut,parallel", {"lut": 1000}, {"lut": 600}),   # calibrated 500: |500-600|/600
            rec("MVAU", "lut,noact", {"lut": 300}, {"lut": 200})]       # no style factor: the op's, 1.0
    before, after = C.estimate_error(held, by_style=True), C.estimate_error(held, cal, by_style=True)
    assert before["MVAU[lut,parallel]"]["lut"] == pytest.approx(400 / 600)
    assert after["MVAU[lut,parallel]"]["lut"] == pytest.approx(100 / 600)
    assert before["MVAU[lut,noact]"]["lut"] == after["MVAU[lut,noact]"]["lut"] == pytest.approx(100 / 200)
    assert after["MVAU"]["lut"] == pytest.approx((100 / 600 + 100 / 200) / 2)
    assert C.sample_counts(held, by_style=True) == {"MVAU": {"lut": 2}, "MVAU[lut,noact]": {"lut": 1},
                                                    "MVAU[lut,parallel]": {"lut": 1}}


def test_sweep_table_reports_held_out_points_only():
    """characterise.evaluate: fit on the fit split only, errors on the held-out split. Fit: style s, LUT
    exactly 2·estimate (three points); held out: estimate 50, measured 90 → raw |50-90|/90, calibrated
    |100-90|/90 (a factor of 2 is the only fit leave-one-out can keep: every ratio is 2)."""
    pairs = [(100, 200, "fit"), (300, 600, "fit"), (700, 1400, "fit"), (50, 90, "held_out")]
    points = [K.Point("MVAU", i, 0, {}, "s", split, {m: e if m == "lut" else 0 for m in K.METRICS},
                      {m: meas if m == "lut" else 0 for m in K.METRICS}) for i, (e, meas, split) in enumerate(pairs)]
    res = K.evaluate(points, "pynq-z2")
    assert set(res["errors"]) == {"MVAU", "MVAU[s]"} and set(res["errors"]["MVAU"]) == {"lut"}
    row = res["errors"]["MVAU[s]"]["lut"]
    assert row["n"] == 1 and row["before"] == pytest.approx(40 / 90) and row["after"] == pytest.approx(10 / 90)
    assert res["calibration"].factor("MVAU", "lut") == pytest.approx(2.0)


def test_affine_fit_recovers_factor_and_offset():
    """LUT = 0.5·estimate + 40 (a formula's constant the hardware lacks): the offset fit recovers both and
    leave-one-out prefers it to a pure factor; BRAM18 never takes an offset (0 blocks mean none)."""
    recs = [rec("ConvolutionInputGenerator1D", "", {"lut": e, "bram18": b}, {"lut": 0.5 * e + 40, "bram18": 2 * b + 1})
            for b, e in enumerate((310, 400, 620, 900, 1500), start=1)]
    cal = C.fit_factors(recs, offsets=True, select=True)
    lut = cal.factors["ConvolutionInputGenerator1D"]["lut"]
    assert lut.factor == pytest.approx(0.5, rel=1e-4) and lut.offset == pytest.approx(40, rel=1e-3)
    bram = cal.factors["ConvolutionInputGenerator1D"]["bram18"]
    assert bram.factor == pytest.approx((3 * 5 / 2 * 7 / 3 * 9 / 4 * 11 / 5) ** (1 / 5), rel=1e-5) and bram.offset == 0
    assert cal.apply("ConvolutionInputGenerator1D", {"lut": 100})["lut"] == pytest.approx(90)
    assert C.Factor(0.5, 1, ("yosys",), offset=-80).scale(100) == 0.0  # never below zero
    assert C.fit_factors(recs).factors["ConvolutionInputGenerator1D"]["lut"].offset == 0  # offsets only when asked


def test_selection_keeps_nothing_that_does_not_help():
    """Leave-one-out: where the raw estimate is exact for most points, no factor is kept for the op type; a
    style with a consistent bias keeps its own; fewer than 3 records keep nothing."""
    exact = [rec("VVAU", "a", {"ff": e}, {"ff": e}) for e in (100, 200, 300, 400)]
    biased = [rec("VVAU", "b", {"ff": e}, {"ff": 3 * e}) for e in (100, 200, 300)]
    cal = C.fit_factors(exact + [rec("VVAU", "a", {"ff": 500}, {"ff": 400})], offsets=True, select=True)
    assert "VVAU" not in cal.factors
    cal = C.fit_factors(exact + biased, offsets=True, select=True)
    assert cal.factor("VVAU", "ff", "b") == pytest.approx(3.0) and "VVAU[a]" not in cal.factors
    assert C.fit_factors(biased[:2], select=True).factors == {}


def test_style_factor_falls_back_to_op_then_one():
    f = lambda x: C.Factor(x, 1, ("yosys",))  # noqa: E731
    cal = C.Calibration({"MVAU": {"lut": f(2.0), "cycles": f(1.1)}, "MVAU[dsp,search]": {"lut": f(3.0)}})
    assert cal.factor("MVAU", "lut", "dsp,search") == 3.0
    assert cal.factor("MVAU", "lut", "lut,parallel") == 2.0     # no such style: the op type's
    assert cal.factor("MVAU", "cycles", "dsp,search") == 1.1    # the style has no cycles: the op type's
    assert cal.factor("MVAU", "ff", "dsp,search") == 1.0 and cal.factor("VVAU", "lut", "search") == 1.0
    assert cal.apply("MVAU", {"lut": 10, "ff": 7, "cycles": 100}, "dsp,search") == pytest.approx(
        {"lut": 30.0, "ff": 7, "cycles": 110.0})
    assert cal.apply("MVAU", {"lut": 10}) == {"lut": 20.0}


def test_merge_keeps_cycle_factors():
    f = lambda x, s: C.Factor(x, 1, (s,))  # noqa: E731
    builds = C.Calibration({"MVAU": {"cycles": f(1.01, "cyclesim")}}, "pynq-z2")
    sweep = C.Calibration({"MVAU": {"lut": f(0.9, "yosys")}, "MVAU[dsp,search]": {"lut": f(1.2, "yosys")}})
    merged = builds.merged(sweep)
    assert merged.factors == {"MVAU": {"cycles": f(1.01, "cyclesim"), "lut": f(0.9, "yosys")},
                              "MVAU[dsp,search]": {"lut": f(1.2, "yosys")}}
    assert merged.target == "pynq-z2" and builds.factors == {"MVAU": {"cycles": f(1.01, "cyclesim")}}


def test_style_keys_round_trip_and_bad_keys(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "TARGETS_DIR", tmp_path)
    cal = C.fit_factors(FIT, target="pynq-z2")
    cal.factors["MVAU"]["ff"] = C.Factor(0.8, 3, ("yosys",), offset=-12.5)
    path = C.save_calibration(cal, tmp_path / "pynq-z2.calibration.yaml")
    assert C.load_calibration(path) == cal
    stored = yaml.safe_load(path.read_text())["factors"]
    assert "MVAU[dsp,search]" in stored and stored["MVAU"]["ff"]["offset"] == -12.5 and "offset" not in stored["MVAU"]["lut"]
    (tmp_path / "bad.calibration.yaml").write_text(
        "version: 1\nfactors: {'MVAU[dsp': {lut: {factor: 1, samples: 1, sources: [yosys]}}}\n")
    with pytest.raises(FlowError, match=r"bad.calibration.yaml: factors.MVAU\[dsp: a key is an op type"):
        C.load_calibration(tmp_path / "bad.calibration.yaml")
    (tmp_path / "bad.calibration.yaml").write_text(
        "version: 1\nfactors: {MVAU: {lut: {factor: 1, offset: .inf, samples: 1, sources: [yosys]}}}\n")
    with pytest.raises(FlowError, match=r"factors.MVAU.lut.offset must be a finite number"):
        C.load_calibration(tmp_path / "bad.calibration.yaml")


def test_op_classes_name_their_styles():
    # resType auto takes DSPs from W + A >= 16 bits (flow.ir.ops.resources.DSP_MIN_PRODUCT_BITS)
    assert MVAU.style_key({"weight_bits": 8, "in_bits": 8, "res_type": "auto"}) == "dsp,parallel"
    assert MVAU.style_key({"weight_bits": 4, "in_bits": 4, "res_type": "auto", "no_activation": True}) == "lut,noact"
    assert MVAU.style_key({"weight_bits": 2, "in_bits": 2, "res_type": "dsp", "threshold_style": "search"}) == "dsp,search"
    assert VVAU.style_key({"threshold_style": "search"}) == Thresholding.style_key({"threshold_style": "search"}) == "search"
    assert StreamingFIFO.style_key({"depth": 256}) == "srl" and StreamingFIFO.style_key({"depth": 257}) == "bram"
    assert ConvolutionInputGenerator1D.style_key({"taps": 1}) == "ring"
    assert ConvolutionInputGenerator1D.style_key({"taps": 3}) == "banks"
    assert FMPadding1D.style_key({"channels": 4}) == ""


def _factor(x):
    return C.Factor(x, 1, ("yosys",))


def test_style_factors_reach_exactly_their_nodes_in_estimate_graph():
    """_graph: pad (no style), swg (ring), mvau (4×4 bits, resType auto, no activation: lut,noact), th (parallel)."""
    m = _graph()
    cal = C.Calibration({"MVAU[lut,noact]": {"lut": _factor(2.0)}, "MVAU[dsp,noact]": {"lut": _factor(7.0)},
                         "Thresholding[search]": {"lut": _factor(3.0)},
                         "ConvolutionInputGenerator1D[ring]": {"ff": _factor(5.0)}})
    raw, got = E.estimate_graph(m), E.estimate_graph(m, calibration=cal)
    assert got["mvau"].lut == pytest.approx(2 * raw["mvau"].lut) and got["mvau"].ff == raw["mvau"].ff
    assert got["swg"].ff == pytest.approx(5 * raw["swg"].ff) and got["swg"].lut == raw["swg"].lut
    assert got["th"] == raw["th"] and got["pad"] == raw["pad"]  # parallel thresholds: the search factor is not theirs
    getCustomOp(m.graph.node[3]).set_nodeattr("thresholdStyle", "search")
    raw, got = E.estimate_graph(m), E.estimate_graph(m, calibration=cal)
    assert got["th"].lut == pytest.approx(3 * raw["th"].lut)


def test_style_factors_reach_exactly_their_configs_in_folding_units():
    params = dict(mw=24, mh=16, frames=50, weight_bits=4, in_bits=4, out_bits=2, levels=3, thr_bits=8)
    cal = C.Calibration({"MVAU[dsp,parallel]": {"lut": _factor(2.0), "dsp": _factor(3.0)}})
    raw = Fo.single_unit("mvau", "MVAU", params).evaluate()
    got = Fo.single_unit("mvau", "MVAU", params).evaluate(cal)
    lut, dsp = Fo.RES.index("lut"), Fo.RES.index("dsp")
    styles = set()
    for i, cfg in enumerate(raw.configs):
        fold = cfg["mvau"]
        mine = fold["res_type"] == "dsp" and fold["threshold_style"] == "parallel"
        styles.add(mine)
        assert got.res[i, lut] == pytest.approx(raw.res[i, lut] * (2.0 if mine else 1.0))
        assert got.res[i, dsp] == pytest.approx(raw.res[i, dsp] * (3.0 if mine else 1.0))
    assert styles == {True, False}


# ---------------------------------------------------------------- the sweep

def test_points_are_deterministic_and_extend():
    a, b = K.sample_points(3, seed=0), K.sample_points(3, seed=0)
    assert [(p.op_type, p.params) for p in a] == [(p.op_type, p.params) for p in b]
    longer = {(p.op_type, p.index): p.params for p in K.sample_points(5, seed=0)}
    assert all(longer[p.op_type, p.index] == p.params for p in a)      # more points keep the first ones
    assert [p.params for p in K.sample_points(3, seed=1)] != [p.params for p in a]
    assert sum(p.op_type == "MVAU" for p in a) == 12 and {p.params["resType"] for p in a if p.op_type == "MVAU"} == {"lut", "dsp"}
    with pytest.raises(FlowError, match="no grid for op type 'LabelSelect'"):
        K.sample_points(1, ops=("LabelSelect",))


def test_grid_holds_the_board_builds_folds():
    """rubicall_pynq's fabric MVAUs fold PE 2 × SIMD 32 at 6×4 bits (64 lanes) and its DSP MVAU PE 8 ×
    SIMD 32 (256 lanes): the sampler's lane caps must reach them, else their factors are extrapolated."""
    assert K._lanes("lut", 6, 4) >= 2 * 32 and K._lanes("lut", 4, 4) >= 2 * 32 and K._lanes("dsp", 6, 4) >= 8 * 32


def test_written_metrics_only_theirs():
    f = C.Factor(2.0, 3, ("yosys",))
    cal = C.Calibration({"MVAU": {"lut": f, "bram18": f}, "VVAU": {"bram18": f}, "MVAU[lut,search]": {"ff": f}}, "pynq-z2")
    got = K.only_metrics(cal, ("lut", "ff"))
    assert got.factors == {"MVAU": {"lut": f}, "MVAU[lut,search]": {"ff": f}} and got.target == "pynq-z2"


def test_every_style_group_has_held_out_points():
    pts = [K.Point("MVAU", i, 0, {}, style) for i, style in enumerate(["a"] * 8 + ["b"] * 2 + ["c"])]
    K.split_held_out(pts, seed=0)
    held = {s: sum(p.split == "held_out" for p in pts if p.style == s) for s in "abc"}
    assert held == {"a": 2, "b": 1, "c": 0}  # every 4th of 8; one of two; a single point is only fitted
    again = [K.Point("MVAU", i, 0, {}, p.style) for i, p in enumerate(pts)]
    K.split_held_out(again, seed=0)
    assert [p.split for p in again] == [p.split for p in pts]


def test_bad_target_is_one_line_and_exit_2(capsys):
    assert K.main(["--target", "pynq-z3", "--points", "1"]) == 2
    assert "unknown target 'pynq-z3'" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys is needed")
def test_tiny_real_sweep_measures_caches_and_reports(tmp_path, monkeypatch):
    out, cache = tmp_path / "out", tmp_path / "cache"
    res = K.run("pynq-z2", points=2, ops=("AddStreams",), out=out, cache=cache, progress=False)
    pts = res["points"]
    assert len(pts) == 2 and [p.split for p in pts].count("held_out") == 1
    for p in pts:  # the join is an adder per lane and no register (hls/rtl/streams.sv)
        assert p.measured["lut"] > 0 and p.measured["ff"] == p.measured["dsp"] == p.measured["bram18"] == 0
    data = json.loads((out / "characterisation.json").read_text())
    assert [q["measured"] for q in data["points"]] == [p.measured for p in pts]
    assert (out / "characterisation.png").stat().st_size > 0
    assert "| `AddStreams` | lut |" in (out / "characterisation.md").read_text()
    # the held-out error in the table, recomputed by hand from the stored point (one fit point: no factor is kept)
    (q,) = [q for q in data["points"] if q["split"] == "held_out"]
    row = data["errors"]["AddStreams"]["lut"]
    assert data["factors"] == {} and row["n"] == 1
    assert row["before"] == row["after"] == pytest.approx(abs(q["estimate"]["lut"] - q["measured"]["lut"]) / q["measured"]["lut"])

    def no_yosys(*a, **k):
        raise AssertionError("synthesised again")

    monkeypatch.setattr(flow.sim.synth, "synthesize", no_yosys)  # a rerun reads every point from the cache
    again = K.run("pynq-z2", points=2, ops=("AddStreams",), out=out, cache=cache, progress=False)
    assert [p.measured for p in again["points"]] == [p.measured for p in pts]
    h = K.held_out_summary(again["errors"])
    assert h["rows"] == 1 and h["better"] == h["worse"] == 0 and h["median_before"] == h["median_after"] == row["before"]
