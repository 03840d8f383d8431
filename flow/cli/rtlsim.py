"""Co-simulate a build's whole accelerator as RTL twins under Verilator: bit-exact check and cycles.

Stitches every node's SystemVerilog twin (hls/rtl/) with the build's FIFO depths, runs the
build's vectors, compares every output element with the golden model, and puts the RTL cycles
per chunk and first-chunk latency beside the C++ cycle simulation in report.json (`rtlsim`).
"""
import json
import time
from pathlib import Path

from flow.errors import FlowError
from flow.report.render import render_report
from flow.report.schema import validate_report


def add_arguments(p):
    p.add_argument("build_dir", type=Path, help="a folder made by rubicon build")


def run(args):
    from flow.sim.rtlsim import run_rtlsim

    report_file = args.build_dir / "report.json"
    if not report_file.exists():
        raise FlowError(f"{report_file} is missing: {args.build_dir} is not a finished build; run rubicon build first")
    report = json.loads(report_file.read_text())
    start = time.time()
    r = run_rtlsim(args.build_dir)
    c = report.get("cyclesim", {}).get("cycles_per_chunk")
    r["vs_cyclesim"] = (r["cycles_per_chunk"] - c) / c if c else None
    r["seconds"] = round(time.time() - start, 3)
    report["rtlsim"] = r
    validate_report(report)
    tmp = report_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1))
    tmp.replace(report_file)
    render_report(report, args.build_dir)
    gap = f", {100 * r['vs_cyclesim']:+.2f}% against the C++ cycle simulation ({c:.0f})" if c else ""
    print(f"{args.build_dir}: RTL latency {r['latency_cycles']} cycles, {r['cycles_per_chunk']:.0f} cycles per chunk{gap}; "
          f"{'bit-exact' if r['bit_exact'] else 'MISMATCH'} over {r['elements_compared']} elements")
    return 0 if r["bit_exact"] else 1
