"""Measure a build's resources with Yosys: every node's RTL twin synthesised for the target's family.

`synth_xilinx` (xc7 for Zynq-7000, xcup for UltraScale+) per node out of context, in parallel and
cached by the twin's parameters (<build>/synth/); LUT/FF/BRAM18/DSP per node and FIFO go into
report.json (`measured`) beside each estimate, with the totals and whether they fit the board.
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
    totals = {r: sum(m[r] for m in measured.values()) for r in RESOURCES}
    fits = all(totals[r] <= report["budget"].get(r, 0) for r in RESOURCES if totals[r])
    report["synth"] = {"family": YOSYS_FAMILY.get(target.family, target.family), "totals": totals, "fits": fits, "nodes": len(measured),
                       "skipped": result.skipped, "seconds": round(time.time() - start, 1)}
    save_report(report, args.build_dir)
    est = report["estimate"]["totals"]
    print(f"{args.build_dir}: Yosys {len(measured)} nodes"
          + (f" ({len(result.skipped)} skipped by the time budget: {', '.join(result.skipped[:5])})" if result.skipped else "")
          + "; " + ", ".join(f"{r.upper()} {totals[r]:,} (estimate {est[r]:,.0f})" for r in ("lut", "ff", "bram18", "dsp"))
          + f"; {'fits' if fits else 'does NOT fit'} {report['target']}")
    return 0 if not result.skipped else 1
