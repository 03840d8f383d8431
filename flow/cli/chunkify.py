"""Cut reads into a training chunk dataset (Bonito layout), optionally with teacher targets.

Labelled reads (mapped signal, simulator truth.hdf5) keep their true labels. With
`--teacher MODEL`, the teacher's logits are stored for distillation, and reads without
labels (any signal file) get the teacher's greedy calls as pseudo-labels.
"""
from pathlib import Path

import numpy as np
from tqdm import tqdm

from flow.cli.common import check_output, staged_output
from flow.data.chunks import labelled_chunks, unlabelled_chunks, write_chunk_dataset
from flow.data.readers import expand_inputs, iter_reads
from flow.data.read import ReadFailure
from flow.errors import FlowError
from flow.nn.checkpoint import load_model
from flow.train.distill import teacher_targets
from flow.train.trainer import training_device


def add_arguments(p):
    p.add_argument("inputs", nargs="+", help="signal files: labelled (mapped signal, simulator truth.hdf5), or any reads with --teacher")
    p.add_argument("-o", "--out", required=True, type=Path, help="dataset directory")
    p.add_argument("--chunk-len", type=int, default=4000, help="samples per chunk (default 4000)")
    p.add_argument("--teacher", help="model whose logits (and, for unlabelled reads, calls) become targets")
    p.add_argument("--max-chunks", type=int, help="stop after this many chunks")
    p.add_argument("--device", default="cpu", help="where the teacher runs: cpu or cuda (default %(default)s)")


def run(args):
    check_output(args.out)
    training_device(args.device)  # a missing GPU fails before the reads are cut
    teacher = load_model(args.teacher)[0] if args.teacher else None  # a bad teacher fails before the reads are cut
    chunks, refs = [], []
    for path in expand_inputs(args.inputs):
        for read in tqdm(iter_reads(path), desc=f"chunk {path.name}", unit="read"):
            if isinstance(read, ReadFailure):  # a dataset silently short of reads is not written
                raise FlowError(f"{read}; no dataset written (repair the file or leave it out)")
            if read.reference is not None:
                c, r = labelled_chunks(read, args.chunk_len)
            elif teacher is not None:
                c, r = unlabelled_chunks(read, args.chunk_len), None
            else:
                raise FlowError(f"{path}: read {read.read_id} has no reference; pass --teacher to label it")
            chunks += c
            refs += r if r is not None else [None] * len(c)
            if args.max_chunks and len(chunks) >= args.max_chunks:
                break
        if args.max_chunks and len(chunks) >= args.max_chunks:
            chunks, refs = chunks[: args.max_chunks], refs[: args.max_chunks]
            break
    if not chunks:
        raise FlowError(f"{', '.join(map(str, args.inputs))}: no chunk of {args.chunk_len} samples with labelled bases; "
                        "the reads are too short (try a smaller --chunk-len)")
    logits = None
    if teacher is not None:
        logits, pseudo = teacher_targets(teacher, chunks, device=args.device)
        # A pseudo-labelled chunk with under a quarter of the usual ~1 base per 10 samples
        # is open pore, adapter or a stall, not strand: it would teach blanks, so drop it.
        keep = [r is not None or len(p) >= args.chunk_len // 40 for r, p in zip(refs, pseudo)]
        refs = [p if r is None else r for r, p, k in zip(refs, pseudo, keep) if k]
        chunks = [c for c, k in zip(chunks, keep) if k]
        logits = logits[np.array(keep)]
    with staged_output(args.out) as out:
        write_chunk_dataset(out, chunks, refs, logits)
    print(f"{len(chunks)} chunks of {args.chunk_len} samples → {args.out}")
