"""Measure a build's resources with Yosys: every node's RTL twin synthesised for the target's family.

`synth_xilinx` (xc7 for Zynq-7000, xcup for UltraScale+) per node out of context, in parallel and
cached by the twin's parameters (<build>/synth/); LUT/FF/BRAM18/DSP per node and FIFO go into
report.json (`measured`) beside each estimate, with the totals and whether they fit the board.
`--update-calibration` closes the loop for the board: resource factors per op type and style fitted
from this build's measured nodes (each kept only where, leave-one-out, it predicts them better than
the raw estimate, or a style better than its op type's factor) are laid over the target's
calibration (the sweep's factors stay for what the build does not contain), so the next
`rubicon build` folds for what Yosys counts.
"""
import time
from pathlib import Path

from flow.report import load_report, save_report
from flow.report.schema import RESOURCES


def add_arguments(p):
    p.add_argument("build_dir", type=Path, help="a folder made by rubicon build")
    p.add_argument("--jobs", type=int, default=2, help="parallel Yosys runs (default 2)")
    p.add_argument("--budget-s", type=float, default=None,
                   help="stop launching new nodes after this many seconds (the rest are listed as skipped)")
    p.add_argument("--update-calibration", action="store_true",
                   help="fit LUT/FF/BRAM18 factors from this build's measured nodes into targets/<target>.calibration.yaml")


def _measured(figures: dict) -> dict:
    """Report figures: LUT counts logic and memory LUTs together, as the estimates do."""
    return {"lut": figures["lut"] + figures["lut_memory"], "lut_memory": figures["lut_memory"],
            **{k: figures[k] for k in ("ff", "bram18", "uram", "dsp")}}


def run(args):
    from flow.hw.targets import load_target
    from flow.ir.ops.cpp import identifier
    from flow.sim.rtl_op import YOSYS_FAMILY
    from flow.sim.synth import synth_build

    report = load_report(args.build_dir / "report.json")
    target = load_target(report["target"])
    start = time.time()
    result = synth_build(args.build_dir, target.family, jobs=args.jobs, budget_s=args.budget_s)
    measured = {name: _measured(f) for name, f in result.nodes.items()}
    for row in report["nodes"]:
        if row["name"] in measured:
            row["measured"] = measured[row["name"]]
    fifo_of = {}
    from qonnx.core.modelwrapper import ModelWrapper
    for node in ModelWrapper(str(args.build_dir / "final.onnx")).graph.node:
        if node.op_type == "StreamingFIFO":
            fifo_of["s_" + identifier(node.input[0])] = node.name
    for row in report.get("fifos", []):
        if fifo_of.get(row["name"]) in measured:
            row["measured"] = {k: v for k, v in measured[fifo_of[row["name"]]].items() if k != "lut_memory"}
    add_resource_errors(report)
    totals = {r: sum(m[r] for m in measured.values()) for r in RESOURCES}
    fits = all(totals[r] <= report["budget"].get(r, 0) for r in RESOURCES if totals[r])
    report["synth"] = {"family": YOSYS_FAMILY.get(target.family, target.family), "totals": totals, "fits": fits, "nodes": len(measured),
                       "skipped": result.skipped, "seconds": round(time.time() - start, 1)}
    if args.update_calibration:
        report["synth"]["calibration"] = update_calibration(args.build_dir, report, target)
    save_report(report, args.build_dir)
    est = report["estimate"]["totals"]
    print(f"{args.build_dir}: Yosys {len(measured)} nodes"
          + (f" ({len(result.skipped)} skipped by the time budget: {', '.join(result.skipped[:5])})" if result.skipped else "")
          + "; " + ", ".join(f"{r.upper()} {totals[r]:,} (estimate {est[r]:,.0f})" for r in ("lut", "ff", "bram18", "dsp"))
          + f"; {'fits' if fits else 'does NOT fit'} {report['target']}")
    return 0 if not result.skipped else 1


def update_calibration(build_dir: Path, report: dict, target, path: Path | None = None) -> dict:
    """Fit resource factors from the measured nodes of this build (raw estimate vs Yosys, per op type
    and style; `fit_factors(select=True)` keeps what beats the raw estimate leave-one-out) and lay them
    over the target's file (or `path`)."""
    from qonnx.core.modelwrapper import ModelWrapper

    from flow.errors import FlowError
    from flow.hw import estimate as E
    from flow.hw.calibration import fit_factors, load_calibration, save_calibration
    from flow.hw.targets import is_shipped

    if path is None and not is_shipped(target):
        raise FlowError(f"--update-calibration stores factors in targets/ for a shipped target; {target.source} is not one")
    model = ModelWrapper(str(build_dir / "final.onnx"))
    uram = target.resources.get("uram", 0) > 0
    measured = {row["name"]: row["measured"] for row in report["nodes"] if row.get("measured")}
    records = []
    for node in model.graph.node:
        if node.name not in measured or node.op_type == "StreamingFIFO":
            continue
        op_type, params = E.node_params(model, node, uram=uram)
        records.append({"node": node.name, "op_type": op_type, "style": E.op_class(op_type).style_key(params),
                        "estimate": E.estimate(op_type, **params).as_dict(), "source": "yosys",
                        "measured": {k: measured[node.name][k] for k in ("lut", "ff", "bram18")}})
    # factors alone: an offset fitted on a board's large nodes goes negative and zeroes small ones
    # (the search's candidates), which would leave their cost flat and the hardware term blind
    fitted = fit_factors(records, target=target.name, metrics=("lut", "ff", "bram18"), select=True)
    stored = load_calibration(target.name)
    path = save_calibration(stored.merged(fitted), path or target.name)
    return {"file": str(path), "factors": sorted(fitted.factors), "nodes": len(records)}


def add_resource_errors(report: dict) -> None:
    """Per op type, the mean relative error of the raw estimate (before) and of the calibrated one
    the folding used (after) against Yosys, beside the cycle errors in the report's calibration."""
    from flow.hw.calibration import estimate_error

    rows = [row for row in report["nodes"] if row.get("measured")]

    def records(figure: str) -> list[dict]:
        return [{"node": row.get("name", "?"), "op_type": row["op_type"], "source": "yosys",
                 "estimate": row.get(figure) or row["estimate"], "measured": row["measured"]} for row in rows]

    cal = report.get("calibration") or {"file": None, "error_before": {}, "error_after": {}}
    for key, figure in (("error_before", "estimate"), ("error_after", "calibrated")):
        for op, per in estimate_error(records(figure)).items():
            cal.setdefault(key, {}).setdefault(op, {}).update(per)
    report["calibration"] = cal
