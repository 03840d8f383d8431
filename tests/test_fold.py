"""Folding and plumbing passes (flow.hw.fold): targets met minimally, budgets, errors, golden equality."""
import logging
import re

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.util.basic import qonnx_make_model

from flow.errors import FlowError
from flow.hw import estimate as E
from flow.hw.calibration import Calibration, Factor
from flow.hw.fold import (apply_configs, divisors, folding_summary, graph_units, in_word, insert_dwcs, insert_fifos,
                          out_word, set_folding)
from flow.hw.targets import load_target, parse_target
from flow.ir.golden import run_dataflow
from flow.ir.ops.base import DOMAIN

logging.getLogger("torch.onnx").setLevel(logging.ERROR)
NOCAL = Calibration()
from conftest import TINY_CHUNK as CHUNK


@pytest.fixture(scope="module")
def chunks():
    return np.random.default_rng(0).normal(size=(4, CHUNK)).clip(-3, 3).astype(np.float32)


def _mvau_graph(mw=64, mh=64, t=100, bits=4, out_bits=4):
    """One MVAU on a stream [1, t, mw] (no weights: only costed, never run)."""
    node = helper.make_node("MVAU", ["x", "W", "T"], ["y"], name="MVAU_0", domain=DOMAIN, MW=mw, MH=mh,
                            numInputVectors=[1, t], inputDataType=f"UINT{bits}", outputDataType=f"UINT{out_bits}",
                            weightDataType=f"INT{bits}", accDataType="INT24")
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, t, mw])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, t, mh])])
    m = ModelWrapper(qonnx_make_model(g))
    m.set_tensor_datatype("x", DataType[f"UINT{bits}"])
    m.set_tensor_datatype("y", DataType[f"UINT{out_bits}"])
    return m


def _attrs(model, name):
    node = next(n for n in model.graph.node if n.name == name)
    inst = getCustomOp(node)
    return {k: inst.get_nodeattr(k) for k in ("PE", "SIMD") if k in inst.get_nodeattr_types()}


def _small_target(**resources):
    base = dict(name="tiny-board", board="test", part="x", family="zynq-7000", clock_mhz=100,
                resources={"lut": 53200, "ff": 106400, "bram18": 280, "uram": 0, "dsp": 220},
                interface={}, flow="vivado")
    base["resources"] = base["resources"] | resources
    return parse_target(base)


# ---------------------------------------------------------------- throughput targets

def test_throughput_target_met_with_least_parallelism():
    m = _mvau_graph()
    full = 100 * 64 * 64
    folded = set_folding(m, "pynq-z2", cycles_target=full // 16, calibration=NOCAL)
    a = _attrs(folded, "MVAU_0")
    assert a["PE"] * a["SIMD"] == 16                     # exactly the parallelism the target needs
    cost = E.estimate_graph(folded)["MVAU_0"]
    assert cost.cycles == full // 16
    # one step less parallel on either axis misses the target
    for pe, simd in ((a["PE"], divisors(64)[divisors(64).index(a["SIMD"]) - 1]),
                     (divisors(64)[max(divisors(64).index(a["PE"]) - 1, 0)], a["SIMD"])):
        if (pe, simd) != (a["PE"], a["SIMD"]):
            assert E.estimate("MVAU", mw=64, mh=64, frames=100, weight_bits=4, in_bits=4, out_bits=4, acc_bits=24,
                          pe=pe, simd=simd).cycles > full // 16
    # and every folding that does meet it costs at least as much (budget-normalised)
    budget = np.array([load_target("pynq-z2").resources[r] * 0.85 for r in E.RESOURCES])
    chosen = sum(getattr(cost, r) / budget[j] for j, r in enumerate(E.RESOURCES) if budget[j])
    for pe in divisors(64):
        for simd in divisors(64):
            c = E.estimate("MVAU", mw=64, mh=64, frames=100, weight_bits=4, in_bits=4, out_bits=4, acc_bits=24, pe=pe, simd=simd)
            if c.cycles <= full // 16:
                assert sum(getattr(c, r) / budget[j] for j, r in enumerate(E.RESOURCES) if budget[j]) >= chosen - 1e-12
    # a target one cycle tighter needs the next step of parallelism
    tighter = _attrs(set_folding(m, "pynq-z2", cycles_target=full // 16 - 1, calibration=NOCAL), "MVAU_0")
    assert tighter["PE"] * tighter["SIMD"] == 32


def test_fps_and_samples_per_s_are_the_same_target():
    m = _mvau_graph()
    cycles = 100 * 64 * 64 // 16
    fps = 100e6 / cycles
    by_cycles = _attrs(set_folding(m, "pynq-z2", cycles_target=cycles, calibration=NOCAL), "MVAU_0")
    by_fps = set_folding(m, "pynq-z2", fps=fps, calibration=NOCAL)
    by_samples = set_folding(m, "pynq-z2", samples_per_s=fps * 100, calibration=NOCAL)  # 100 input frames per chunk
    assert _attrs(by_fps, "MVAU_0") == _attrs(by_samples, "MVAU_0") == by_cycles
    s = folding_summary(by_fps)
    assert s["mode"] == "throughput" and s["cycles_per_chunk"] == cycles and s["bottleneck"] == "MVAU_0"
    assert s["chunks_per_s"] == pytest.approx(fps) and s["samples_per_s"] == pytest.approx(fps * 100)


def test_unreachable_target_names_the_node(tiny):
    # the stem's window has one input channel, so its SIMD (and the stem MVAU's) is 1: 9 + 104 frames · 9 cycles
    with pytest.raises(FlowError, match=r"MVAU_0 cannot reach 500 cycles per chunk.*fastest folding.*"
                                        r"ConvolutionInputGenerator1D_0 SIMD=1.*MVAU_0 PE=12 SIMD=1.*takes 945 cycles"):
        set_folding(tiny, "pynq-z2", cycles_target=500, calibration=NOCAL)
    with pytest.raises(FlowError, match="one throughput target"):
        set_folding(tiny, "pynq-z2", cycles_target=1000, fps=10)
    with pytest.raises(FlowError, match="needs a throughput target"):
        set_folding(tiny, "pynq-z2")


def test_divisibility_and_ties(tiny):
    folded = set_folding(tiny, "pynq-z2", cycles_target=3000, calibration=NOCAL)
    costs = E.estimate_graph(folded)
    assert max(c.cycles for c in costs.values()) <= 3000
    nodes = {n.name: n for n in folded.graph.node}
    for n in folded.graph.node:
        a = getCustomOp(n).get_nodeattr
        if n.op_type == "MVAU":
            assert a("MW") % a("SIMD") == 0 and a("MH") % a("PE") == 0
        elif n.op_type == "VVAU":
            assert a("Channels") % a("PE") == 0 and a("Kernel") % a("SIMD") == 0
        elif n.op_type in ("FMPadding1D",):
            assert a("NumChannels") % a("SIMD") == 0
        elif n.op_type == "ConvolutionInputGenerator1D":
            assert a("IFMChannels") % a("SIMD") == 0
            consumer = folded.find_consumer(n.output[0])
            tied = "PE" if consumer.op_type == "VVAU" else "SIMD"
            assert getCustomOp(consumer).get_nodeattr(tied) == a("SIMD")
            # a depthwise window's beat holds the VVAU's SIMD taps; a dense one a single tap
            taps = getCustomOp(consumer).get_nodeattr("SIMD") if consumer.op_type == "VVAU" else 1
            assert a("TapsPerBeat") == taps and a("ConvKernelDim") % taps == 0
            producer = folded.find_producer(n.input[0])
            if producer.op_type == "FMPadding1D":
                assert getCustomOp(producer).get_nodeattr("SIMD") == a("SIMD")
        else:
            assert a("NumChannels") % a("PE") == 0
    assert set(nodes) == {n.name for n in tiny.graph.node}


# ---------------------------------------------------------------- budgets

def test_fit_is_the_fastest_folding_within_budget(tiny):
    board = _small_target(lut=16000, dsp=0)  # LUTs alone (DSP multipliers: the test below)
    folded = set_folding(tiny, board, fit=True, headroom=0.15, calibration=NOCAL)
    s = folding_summary(folded)
    complete = E.total(E.estimate_graph(insert_fifos(insert_dwcs(folded))))
    assert s["mode"] == "fit" and complete.lut <= 16000 * 0.85
    assert s["estimate"]["lut"] == complete.lut
    cycles = max(c.cycles for c in E.estimate_graph(folded).values())
    assert s["cycles_per_chunk"] == cycles
    # what stops the next faster folding: LUTs, the one resource this board is short of
    assert s["limited_by"]["resources"] == ["lut"] and s["limited_by"]["next_cycles_per_chunk"] < cycles
    # anything faster does not fit this budget
    with pytest.raises(FlowError, match="does not fit tiny-board.*LUT"):
        set_folding(tiny, board, cycles_target=cycles - 1, headroom=0.15, calibration=NOCAL)
    # more budget, more throughput; calibration that doubles MVAU LUTs, less
    roomy = folding_summary(set_folding(tiny, _small_target(lut=30000, dsp=0), fit=True, calibration=NOCAL))
    assert roomy["cycles_per_chunk"] < cycles
    costly = Calibration({"MVAU": {"lut": Factor(2.0, 1, ("vivado",))}})
    assert folding_summary(set_folding(tiny, board, fit=True, calibration=costly))["cycles_per_chunk"] > cycles


def test_fit_moves_work_to_dsps_and_bram_within_every_budget(tiny):
    """With DSPs on the board the same LUT budget reaches a faster folding, by putting multipliers on
    packed DSPs; every resource stays within its budget, DSP and BRAM included."""
    luts_only = folding_summary(set_folding(tiny, _small_target(lut=8000, dsp=0), fit=True, calibration=NOCAL))
    board = _small_target(lut=8000, dsp=24, bram18=60)
    folded = set_folding(tiny, board, fit=True, calibration=NOCAL)
    with_dsps = folding_summary(folded)
    assert with_dsps["cycles_per_chunk"] < luts_only["cycles_per_chunk"]
    complete = E.total(E.estimate_graph(insert_fifos(insert_dwcs(folded))))
    for r, limit in (("lut", 8000), ("dsp", 24), ("bram18", 60)):
        assert getattr(complete, r) <= limit * 0.85
    styles = {getCustomOp(n).get_nodeattr("resType") for n in folded.graph.node if n.op_type == "MVAU"}
    assert "dsp" in styles and 0 < complete.dsp


def test_a_folding_costs_the_same_in_its_unit_and_on_the_graph(tiny):
    """Folding costs a config from the unit's parameters; reports cost the node from its attributes once
    the config is written. Every style of every node must agree (the CTC head's memory style once did not:
    a head folded with BRAM weights was reported at LUTRAM cost)."""
    rng = np.random.default_rng(3)
    for unit in graph_units(tiny):
        unit.evaluate()
        picks = set(rng.choice(len(unit.configs), size=min(8, len(unit.configs)), replace=False).tolist())
        picks |= {i for i, c in enumerate(unit.configs) if any(f.get("ram_style") == "block" for f in c.values())}
        for i in sorted(picks)[:24]:
            graph = E.estimate_graph(apply_configs(tiny, [unit], [i]))
            for name, cost in unit.node_costs[i].items():
                assert graph[name] == cost, (unit.describe(i), name)


def test_fit_with_a_throughput_floor(tiny):
    board = _small_target(lut=16000, dsp=0)
    fastest = folding_summary(set_folding(tiny, board, fit=True, calibration=NOCAL))["cycles_per_chunk"]
    assert folding_summary(set_folding(tiny, board, fit=True, cycles_target=fastest * 2,
                                       calibration=NOCAL))["cycles_per_chunk"] == fastest
    with pytest.raises(FlowError, match="no folding reaching"):
        set_folding(tiny, board, fit=True, cycles_target=fastest - 1, calibration=NOCAL)


@pytest.mark.parametrize("lut, dsp", [(15000, 0), (15000, 24), (9000, 60), (7000, 60)])
def test_a_throughput_target_some_folding_fits_builds(tiny, lut, dsp):
    """Fit mode finds a folding reaching C cycles per chunk within budget, FIFOs and width converters
    included; so a throughput target of C cycles must fold too. (The throughput mode once chose its
    folding against the budget without the plumbing, spent the LUTs to the brim and then refused:
    a searched model that fit at MinION real time was built only at the fastest fitting rate. At
    7,000 LUTs a 1.5× margin on the first plumbing reserve left no folding at this target.)"""
    board = _small_target(lut=lut, dsp=dsp, bram18=60)
    fastest = folding_summary(set_folding(tiny, board, fit=True, calibration=NOCAL))["cycles_per_chunk"]
    folded = set_folding(tiny, board, cycles_target=fastest, calibration=NOCAL)
    s = folding_summary(folded)
    complete = E.total(E.estimate_graph(insert_fifos(insert_dwcs(folded))))
    assert s["mode"] == "throughput" and s["cycles_per_chunk"] <= fastest
    for r, limit in (("lut", lut), ("dsp", dsp), ("bram18", 60)):
        assert getattr(complete, r) <= limit * 0.85 + 1e-9, r


def test_a_model_that_cannot_fit_pynq_z2():
    """An 8-bit 1024 × 1024 layer: 8 Mbit of weights and 255 thresholds per channel."""
    big = _mvau_graph(mw=1024, mh=1024, t=10, bits=8, out_bits=8)
    with pytest.raises(FlowError) as e:
        set_folding(big, "pynq-z2", fit=True, calibration=NOCAL)
    msg = str(e.value)
    assert "minimum folding does not fit pynq-z2" in msg
    assert "BRAM18" in msg and "budget 238 = 280 × 0.85" in msg
    assert "The bottleneck is MVAU_0" in msg
    assert re.search(r"on its own at MVAU_0 PE=\d+ SIMD=\d+ resType=(lut|dsp) thresholdStyle=(parallel|search)", msg)
    with pytest.raises(FlowError, match=r"does not fit pynq-z2.*bottleneck is MVAU_0"):
        set_folding(big, "pynq-z2", cycles_target=10 ** 9, calibration=NOCAL)
    # the same layer fits the Alveo card
    alveo = folding_summary(set_folding(big, "u250", fit=True, calibration=NOCAL))
    assert alveo["estimate"]["lut"] <= alveo["budget"]["lut"] and alveo["estimate"]["dsp"] <= alveo["budget"]["dsp"]


def test_headroom_is_validated(tiny):
    with pytest.raises(FlowError, match="headroom"):
        set_folding(tiny, "pynq-z2", fit=True, headroom=1.0, calibration=NOCAL)


# ---------------------------------------------------------------- plumbing

def test_dwcs_where_words_differ(tiny):
    folded = set_folding(tiny, "pynq-z2", cycles_target=3000, calibration=NOCAL)
    with_dwc = insert_dwcs(folded)
    dwcs = [n for n in with_dwc.graph.node if n.op_type == "StreamingDataWidthConverter"]
    mismatched = sum(1 for n in folded.graph.node for i, t in enumerate(n.input)
                     if (p := folded.find_producer(t)) is not None
                     and out_word(p, list(p.output).index(t)) != in_word(n, i))
    assert len(dwcs) == mismatched > 0
    assert [n.name for n in dwcs] == [f"StreamingDataWidthConverter_{k}" for k in range(len(dwcs))]
    for d in dwcs:
        a = getCustomOp(d).get_nodeattr
        prod, cons = with_dwc.find_producer(d.input[0]), with_dwc.find_consumer(d.output[0])
        assert a("inWidth") == out_word(prod) and a("outWidth") == in_word(cons, list(cons.input).index(d.output[0]))
        n, t, c = with_dwc.get_tensor_shape(d.input[0])
        assert a("numInputVectors") == [n, t] and a("NumChannels") == c
        assert a("inputDataType") == a("outputDataType") == with_dwc.get_tensor_datatype(d.input[0]).name
    assert len([n for n in insert_dwcs(with_dwc).graph.node if n.op_type == "StreamingDataWidthConverter"]) == len(dwcs)


def test_fifos_on_every_edge(tiny):
    g = insert_dwcs(set_folding(tiny, "pynq-z2", cycles_target=3000, calibration=NOCAL))
    edges = [(g.find_producer(t), n) for n in g.graph.node for t in n.input
             if g.get_initializer(t) is None and (g.find_producer(t) is not None or t == "global_in")]
    producer = {e[1].name: e[0] for e in edges}
    depths = {(producer["AddStreams_0"].name, "AddStreams_0"): 64, (None, edges[0][1].name): 8}
    f = insert_fifos(g, depths)
    fifos = [n for n in f.graph.node if n.op_type == "StreamingFIFO"]
    assert len(fifos) == len(edges) + 1                       # every edge, the input and the output
    assert [n.name for n in fifos] == sorted((n.name for n in fifos), key=lambda s: int(s.rsplit("_", 1)[1]))
    assert len({n.name for n in f.graph.node}) == len(f.graph.node)
    for fifo in fifos:
        a = getCustomOp(fifo).get_nodeattr
        prod, cons = f.find_producer(fifo.input[0]), f.find_consumer(fifo.output[0])
        word = out_word(prod) if prod is not None else in_word(cons)
        assert a("PE") == word
        key = (prod.name if prod else None, cons.name if cons else None)
        assert a("depth") == depths.get(key, 2)
    assert f.graph.input[0].name == "global_in" and f.graph.output[0].name == "global_out"
    assert f.find_producer("global_out").op_type == "StreamingFIFO"
    assert f.find_consumer("global_in").op_type == "StreamingFIFO"
    assert len([n for n in insert_fifos(f).graph.node if n.op_type == "StreamingFIFO"]) == len(fifos)  # idempotent
    with pytest.raises(FlowError, match="before insert_dwcs/insert_fifos"):
        set_folding(f, "pynq-z2", fit=True, calibration=NOCAL)


def test_fifos_need_matching_words(tiny):
    folded = set_folding(tiny, "pynq-z2", cycles_target=3000, calibration=NOCAL)
    with pytest.raises(FlowError, match="run insert_dwcs before insert_fifos"):
        insert_fifos(folded)


# ---------------------------------------------------------------- golden equality

def test_golden_outputs_unchanged_by_the_passes(tiny, chunks):
    ref = run_dataflow(tiny, chunks).accumulators
    folded = insert_fifos(insert_dwcs(set_folding(tiny, "pynq-z2", fit=True, calibration=NOCAL)))
    assert np.array_equal(run_dataflow(folded, chunks).accumulators, ref)
    units = graph_units(tiny)
    rng = np.random.default_rng(3)
    for _ in range(4):  # random legal foldings: converters everywhere, depthwise orders of every PE
        choice = [int(rng.integers(len(u.configs))) for u in units]
        g = insert_fifos(insert_dwcs(apply_configs(tiny, units, choice)), default_depth=3)
        assert np.array_equal(run_dataflow(g, chunks).accumulators, ref)


def test_golden_check_sees_a_broken_depthwise_tie(tiny, chunks):
    """The equality test is sensitive: a window SIMD that differs from its VVAU's PE scrambles taps."""
    ref = run_dataflow(tiny, chunks).accumulators
    bad = ModelWrapper(tiny.model.__deepcopy__())
    vvau = next(n for n in bad.graph.node if n.op_type == "VVAU")
    getCustomOp(vvau).set_nodeattr("PE", 4)  # its window keeps SIMD 1
    assert not np.array_equal(run_dataflow(bad, chunks).accumulators, ref)
