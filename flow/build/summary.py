"""report.json of a build (schema: docs/report_schema.md), its calibration, and the human page."""
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from flow.data.chunks import default_overlap, new_samples
from flow.decode.ctc import greedy_decode
from flow.errors import FlowError
from flow.ir.golden import GoldenResult
from flow.report.schema import MINION_SAMPLES_PER_S

METRICS = ("lut", "ff", "bram18", "uram", "dsp")
STYLE_ATTRS = ("resType", "thresholdStyle", "ramStyle", "TapsPerBeat")


def _bases_per_sample(build_dir: Path, real_chunks: int, chunk_len: int, scale: np.ndarray) -> float:
    """Bases the model calls per input sample, from the golden logits of the real-read chunks
    (with dynamic pooling, only each chunk's valid frames)."""
    acc = np.load(build_dir / "vectors" / "golden.npy")[:real_chunks]
    golden = GoldenResult(acc, acc * scale.astype(np.float64), {})
    trailer = build_dir / "vectors" / "golden_trailer.npy"
    valid = np.load(trailer)[:real_chunks, 0] if trailer.exists() else np.full(len(acc), acc.shape[1])
    bases = sum(len(greedy_decode(log_probs[:n])[0]) for log_probs, n in zip(golden.log_probs, valid))
    return bases / (real_chunks * chunk_len)


def _node_rows(model: ModelWrapper, raw: dict, cal: dict, sim_nodes: dict | None) -> list[dict]:
    from flow.ir.ops.cpp import identifier

    rows = []
    for node in model.graph.node:
        if node.op_type == "StreamingFIFO":
            continue
        op = getCustomOp(node)
        attrs = op.get_nodeattr_types()
        styles = {a: op.get_nodeattr(a) for a in STYLE_ATTRS if a in attrs}
        row = {"name": node.name, "op_type": node.op_type, "styles": styles,
               "PE": op.get_nodeattr("PE") if "PE" in attrs else None,
               "SIMD": op.get_nodeattr("SIMD") if "SIMD" in attrs else None, "in_width": op.in_width(),
               "out_width": op.out_width(), "estimate": raw[node.name].as_dict(), "calibrated": cal[node.name].as_dict()}
        if sim_nodes is not None and identifier(node.name) in sim_nodes:
            row["cyclesim"] = {k: sim_nodes[identifier(node.name)][k] for k in ("busy", "starved", "blocked")}
        rows.append(row)
    return rows


def _fifo_rows(model: ModelWrapper, raw: dict, cyclesim: dict | None) -> list[dict]:
    from flow.ir.ops.cpp import identifier

    rows = []
    for node in model.graph.node:
        if node.op_type != "StreamingFIFO":
            continue
        op = getCustomOp(node)
        producer, consumer = model.find_producer(node.input[0]), model.find_consumer(node.output[0])
        ident = "s_" + identifier(node.input[0])
        sim = (cyclesim or {}).get("fifos", {}).get(ident, {})
        bits = model.get_tensor_datatype(node.input[0]).bitwidth()
        rows.append({"name": ident, "producer": producer.name if producer else "input", "consumer": consumer.name if consumer else "output",
                     "depth": op.get_nodeattr("depth"), "high_water": sim.get("high_water"),
                     "width_bits": bits * op.get_nodeattr("PE"), "estimate": {k: v for k, v in raw[node.name].as_dict().items() if k != "cycles"}})
    return rows


def _calibration(b, model: ModelWrapper, raw: dict, cyclesim: dict | None) -> dict:
    """Per-op cycle factors from this build's cycle simulation (busy cycles per chunk vs the
    estimate), saved beside the build; error before and after."""
    from flow.ir.ops.cpp import identifier
    from flow.hw.calibration import estimate_error, fit_factors, load_calibration, save_calibration

    if not cyclesim:
        return {"file": None, "error_before": {}, "error_after": {}}
    records = []
    for node in model.graph.node:
        sim = cyclesim["nodes"].get(identifier(node.name))
        if sim is None or node.op_type == "StreamingFIFO":
            continue
        records.append({"node": node.name, "op_type": node.op_type, "estimate": {"cycles": raw[node.name].cycles},
                        "measured": {"cycles": sim["busy"] / cyclesim["chunks"]}, "source": "cyclesim"})
    cal = fit_factors(records, target=b.target.name)
    path = save_calibration(cal, b.dir / "calibration.yaml")
    if b.cfg.update_calibration:  # what folding and the search read next time
        if not b.shipped_target:
            raise FlowError(f"--update-calibration stores factors in targets/ for a shipped target; {b.target.source} "
                            f"is not one (this build's factors are in {path})")
        save_calibration(load_calibration(b.target.name).merged(cal), b.target.name)  # keeps the sweep's resource factors
    return {"file": str(path.relative_to(b.dir)), "error_before": estimate_error(records),
            "error_after": estimate_error(records, cal)}


def write_report(b, results: dict) -> dict:
    """report.json from the stages' results, then report.md and its plots."""
    from flow.hw.estimate import estimate_graph, total
    from flow.hw.fold import folding_summary
    from flow.report import save_report

    final = b.dir / ("final.onnx" if (b.dir / "final.onnx").exists() and b.target.builds_hardware else "folded.onnx")
    model = ModelWrapper(str(final))
    calibration = b.calibration()
    raw = estimate_graph(model, target=b.target)
    cal = estimate_graph(model, calibration, target=b.target)
    cyclesim = results.get("cyclesim")
    fold = folding_summary(model) or {}
    compute = [n for n in model.graph.node if n.op_type != "StreamingFIFO"]
    bottleneck = max(compute, key=lambda n: raw[n.name].cycles)
    est_cycles = raw[bottleneck.name].cycles
    _, t_out, classes = model.get_tensor_shape(model.graph.output[0].name)
    clock = b.target.clock_mhz * 1e6
    report = {
        "schema_version": 1, "model": b.cfg.model, "target": b.target.name, "board": b.target.board, "part": b.target.part,
        "clock_mhz": b.target.clock_mhz, "chunk_len": b.cfg.chunk_len, "stride": b.cfg.chunk_len // t_out,
        "frames_out": t_out, "classes": classes, "budget": dict(b.target.resources), "headroom": b.cfg.headroom,
        "folding": {"mode": fold.get("mode", "fit"), "target": b.cfg.fps or b.cfg.samples_per_s,
                    "bottleneck": bottleneck.name, "cycles_per_chunk": est_cycles,
                    **({"limited_by": fold["limited_by"]} if fold.get("limited_by") else {})},
        "nodes": _node_rows(model, raw, cal, cyclesim["nodes"] if cyclesim else None),
        "fifos": _fifo_rows(model, raw, cyclesim),
        "estimate": {"totals": {k: v for k, v in total(raw.values()).as_dict().items() if k != "cycles"},
                     "calibrated_totals": {k: v for k, v in total(cal.values()).as_dict().items() if k != "cycles"},
                     "cycles_per_chunk": est_cycles, "bottleneck": bottleneck.name},
        "timing_s": {k: round(v, 3) for k, v in b.timing.items()} | {"total": round(sum(b.timing.values()), 3)},
    }
    cycles = est_cycles
    if cyclesim:
        report["csim"] = results["csim"]
        report["cyclesim"] = {k: v for k, v in cyclesim.items() if k not in ("nodes", "fifos")}
        cycles = cyclesim["cycles_per_chunk"]
        report["estimate_vs_cyclesim"] = {"cycles_per_chunk_estimate": est_cycles, "cycles_per_chunk_simulated": cycles,
                                          "relative_error": (est_cycles - cycles) / cycles}
        real = b.cfg.chunks - 3
        bps = _bases_per_sample(b.dir, real, b.cfg.chunk_len, model.get_initializer("logit_scale"))
        source = f"greedy calls of the golden logits on {real} real-read chunks"
    else:
        bps, source = None, None
    chunks_per_s = clock / cycles
    if not b.target.builds_hardware:  # the AI Engine array, not the fabric, sets the throughput
        from flow.hw.aie import aie_cost

        report["aie"] = aie_cost(model, b.target.aie)
        chunks_per_s = report["aie"]["chunks_per_s"]
    samples = chunks_per_s * b.cfg.chunk_len
    stride = int(report["stride"] or 1)
    overlap = default_overlap(b.cfg.chunk_len, stride)
    effective = chunks_per_s * new_samples(b.cfg.chunk_len, stride)  # the overlap is signal seen twice
    report["throughput"] = {
        "chunks_per_s": chunks_per_s, "samples_per_s": samples, "overlap_samples": overlap,
        "effective_samples_per_s": effective, "bases_per_s": effective * bps if bps else None,
        "bases_per_sample": bps, "bases_per_sample_source": source, "minion_samples_per_s": MINION_SAMPLES_PER_S,
        "minion_fraction": effective / MINION_SAMPLES_PER_S, "one_sample_per_clock_samples_per_s": clock,
        "one_sample_per_clock_fraction": samples / clock}
    report["calibration"] = _calibration(b, model, raw, cyclesim)
    if "codegen" in results:
        report["artifacts"] = results["codegen"]["artifacts"]
    if "vendor" in results:
        report["vendor"] = results["vendor"]
    save_report(report, b.dir)
    return report
