"""How fast can a model run on a board, by the estimates: the fastest cycle target for which some
choice of foldings and styles fits the budget (flow.hw.fold.best_choice, before FIFOs and width
converters), at several headrooms, against MinION real time.

Usage: python bench/fold_bound.py build/pynq-z2/rubicall_pynq [--headroom 0.15 0.0]
(the build folder's dataflow.onnx and its target; `make build` first).
"""
import argparse
import json
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper

from flow.data.chunks import new_samples
from flow.hw import fold as Fo
from flow.hw.calibration import load_calibration
from flow.hw.targets import load_target
from flow.report.schema import MINION_SAMPLES_PER_S


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build_dir", type=Path)
    ap.add_argument("--headroom", type=float, nargs="+", default=[0.15, 0.0])
    args = ap.parse_args(argv)
    for name in ("report.json", "dataflow.onnx"):
        if not (args.build_dir / name).exists():
            raise SystemExit(f"{args.build_dir / name} not found: give a build folder (make build) to bound")
    report = json.loads((args.build_dir / "report.json").read_text())
    target = load_target(report["target"])
    model = Fo.with_dsp_ports(ModelWrapper(str(args.build_dir / "dataflow.onnx")), target)
    units = [u.evaluate(load_calibration(target.name)) for u in Fo.graph_units(model)]
    chunk = report["chunk_len"]
    new_signal = new_samples(chunk, report["stride"])
    print(f"{report['model']} on {target.name}: MinION real time needs "
          f"{target.clock_mhz * 1e6 * new_signal / MINION_SAMPLES_PER_S:,.0f} cycles/chunk")
    for headroom in args.headroom:
        targets = Fo.cycle_targets(units)
        index, found = Fo.fastest_fit(units, targets, Fo.budget_of(target, headroom))
        if found is None:
            print(f"  headroom {headroom:.0%}: nothing fits")
            continue
        best = float(targets[index])
        effective = target.clock_mhz * 1e6 / best * new_signal
        print(f"  headroom {headroom:.0%}: {best:,.0f} cycles/chunk, {effective / 1e6:.3f} M effective samples/s "
              f"({effective / MINION_SAMPLES_PER_S:.0%} of MinION)")


if __name__ == "__main__":
    main()
