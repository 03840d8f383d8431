"""Compare signal statistics (dwell, within-base noise, white noise, speed spread) of labelled read sets."""
from pathlib import Path

import numpy as np

from flow.cli.common import refuse_failures
from flow.data.readers import load_reads
from flow.data.realism import per_read_speed, signal_stats
from flow.errors import FlowError


def add_arguments(p):
    p.add_argument("inputs", nargs="+", type=Path, help="labelled signal files (mapped signal, simulator truth.hdf5)")


def run(args):
    table = {}
    for path in args.inputs:
        reads, failures = load_reads([path])
        refuse_failures(failures)  # statistics over the reads that happened to decode would misdescribe the file
        reads = [r for r in reads if r.ref_to_signal is not None]
        if not reads:
            raise FlowError(f"{path}: no reads with a signal alignment")
        stats = signal_stats(reads)
        speed = per_read_speed(reads)
        stats["speed_spread_cv"] = float(speed.std() / speed.mean()) if len(speed) > 1 else float("nan")
        table[str(path)] = stats
    keys = list(next(iter(table.values())))
    labels = ["/".join(Path(p).parts[-2:])[-30:] for p in table]
    print("statistic".ljust(24) + "".join(label.rjust(32) for label in labels))
    for k in keys:
        print(k.ljust(24) + "".join(f"{table[p][k]:32.3f}" for p in table))
