"""Co-simulate a build's whole accelerator as RTL twins under Verilator: bit-exact check and cycles.

Stitches every node's SystemVerilog twin (hls/rtl/) with the build's FIFO depths, runs the
build's vectors, compares every output element with the golden model, and puts the RTL cycles
per chunk and first-chunk latency beside the C++ cycle simulation in report.json (`rtlsim`).
"""
import time
from pathlib import Path

from flow.report import load_report, save_report


def add_arguments(p):
    p.add_argument("build_dir", type=Path, help="a folder made by rubicon build")


def run(args):
    from flow.sim.rtlsim import run_rtlsim

    report = load_report(args.build_dir / "report.json")
    start = time.time()
    r = run_rtlsim(args.build_dir)
    c = report.get("cyclesim", {}).get("cycles_per_chunk")
    r["vs_cyclesim"] = (r["cycles_per_chunk"] - c) / c if c else None
    r["seconds"] = round(time.time() - start, 3)
    report["rtlsim"] = r
    save_report(report, args.build_dir)
    gap = f", {100 * r['vs_cyclesim']:+.2f}% against the C++ cycle simulation ({c:.0f})" if c else ""
    print(f"{args.build_dir}: RTL latency {r['latency_cycles']} cycles, {r['cycles_per_chunk']:.0f} cycles per chunk{gap}; "
          f"{'bit-exact' if r['bit_exact'] else 'MISMATCH'} over {r['elements_compared']} elements")
    return 0 if r["bit_exact"] else 1
