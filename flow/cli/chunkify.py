"""Cut labelled reads (mapped signal, simulator truth) into a training chunk dataset (Bonito layout)."""
from pathlib import Path

from tqdm import tqdm

from flow.cli.common import staged_output
from flow.data.chunks import labelled_chunks, write_chunk_dataset
from flow.data.readers import expand_inputs, iter_reads
from flow.data.read import ReadFailure
from flow.errors import FlowError


def add_arguments(p):
    p.add_argument("inputs", nargs="+", help="labelled signal files (Taiyaki mapped signal / simulator truth.hdf5)")
    p.add_argument("-o", "--out", required=True, type=Path, help="dataset directory")
    p.add_argument("--chunk-len", type=int, default=4000, help="samples per chunk (default 4000)")


def run(args):
    chunks, refs, failures = [], [], 0
    for path in expand_inputs(args.inputs):
        for read in tqdm(iter_reads(path), desc=f"chunk {path.name}", unit="read"):
            if isinstance(read, ReadFailure):
                print(f"warning: skipped {read}")
                failures += 1
                continue
            if read.reference is None:
                raise FlowError(f"{path}: read {read.read_id} has no reference; chunkify needs labelled reads")
            c, r = labelled_chunks(read, args.chunk_len)
            chunks += c
            refs += r
    with staged_output(args.out) as out:
        write_chunk_dataset(out, chunks, refs)
    print(f"{len(chunks)} chunks of {args.chunk_len} samples → {args.out}")
    return 1 if failures else 0
