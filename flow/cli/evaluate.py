"""Accuracy of basecalls against references (Bonito's definition), per read and summarised.

REFERENCE is a FASTA or a labelled signal file (Taiyaki mapped signal). A reference record
named like the read is that read's own reference (accuracy 0 when the alignment covers
under half of it); other reads are aligned to every record, both strands.
"""
from pathlib import Path

import numpy as np

from flow.cli.common import refuse_failures, staged_file
from flow.data.fastx import read_fasta, read_fastq
from flow.data.readers import SIGNAL_SUFFIXES, load_reads
from flow.errors import FlowError
from flow.evaluate.accuracy import accuracy, align


def add_arguments(p):
    p.add_argument("calls", type=Path, help="FASTQ from rubicon basecall")
    p.add_argument("reference", type=Path, help="reference FASTA, or a mapped-signal file with references")
    p.add_argument("--tsv", type=Path, help="per-read table (default: CALLS with .tsv)")
    p.add_argument("--min-coverage", type=float, default=0.5)


def load_references(path: Path) -> dict[str, str]:
    if path.suffix.lower() in SIGNAL_SUFFIXES:
        reads, failures = load_reads([path])
        refuse_failures(failures)  # a read whose reference is lost would be scored against the whole genome instead
        refs = {r.read_id: r.reference for r in reads if r.reference}
        if not refs:
            raise FlowError(f"{path} carries no references; pass a FASTA")
        return refs
    return read_fasta(path)


def run(args):
    calls = read_fastq(args.calls)
    refs = load_references(args.reference)
    rows = []
    for read_id, (seq, _) in calls.items():
        if read_id in refs:
            acc, mode = accuracy(seq, refs[read_id], args.min_coverage), "per-read"
        else:
            alns = [a for a in (align(seq, ref, both_strands=True) for ref in refs.values()) if a]
            acc, mode = (max(a.accuracy for a in alns) if alns else 0.0), "genome"
        rows.append((read_id, len(seq), mode, acc))
    if not rows:
        raise FlowError(f"{args.calls} holds no calls")
    tsv = args.tsv or args.calls.with_suffix(".tsv")
    with staged_file(tsv) as tmp:
        with open(tmp, "w") as out:
            out.write("read_id\tcall_length\treference_mode\taccuracy\n")
            for r in rows:
                out.write(f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]:.5f}\n")
    accs = np.array([r[3] for r in rows])
    print(f"reads: {len(rows)}  mean accuracy: {100 * accs.mean():.2f}%  median accuracy: {100 * np.median(accs):.2f}%  → {tsv}")
