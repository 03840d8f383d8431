"""Rerun the cycle-accurate simulation of a build folder: latency, cycles per chunk, stalls."""
from pathlib import Path

from flow.build.pipeline import rerun_stage


def add_arguments(p):
    p.add_argument("build_dir", type=Path, help="a folder made by rubicon build")


def run(args):
    r = rerun_stage(args.build_dir, "cyclesim")
    print(f"{args.build_dir}: latency {r['latency_cycles']} cycles, {r['cycles_per_chunk']:.0f} cycles per chunk, "
          f"{'bit-exact' if r['bit_exact'] else 'MISMATCH'} over {r['elements_compared']} elements")
    return 0 if r["bit_exact"] else 1
