"""Rerun the C-simulation of a build folder and compare every output with the golden model."""
from pathlib import Path

from flow.build.pipeline import rerun_stage


def add_arguments(p):
    p.add_argument("build_dir", type=Path, help="a folder made by rubicon build")


def run(args):
    r = rerun_stage(args.build_dir, "csim")
    print(f"{args.build_dir}: C-simulation {'bit-exact' if r['bit_exact'] else 'MISMATCH'}: "
          f"{r['mismatches']} of {r['elements_compared']} elements differ")
    return 0 if r["bit_exact"] else 1
