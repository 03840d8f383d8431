"""Basecall signal files (POD5, FAST5, SLOW5/BLOW5, mapped signal) to FASTQ with a trained model.

FASTQ goes to standard output unless -o names a file (`rubicon basecall MODEL DIR > calls.fastq`,
as Bonito and Dorado do); progress, per-read errors and the summary line go to standard error.
With --exact, the calls come from the integer dataflow graph that becomes hardware (a model
exported and lowered at --chunk-len, or a build directory's graph at its own chunk length)
instead of the float32 model: the accelerator's accuracy.
"""
import contextlib
import os
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from flow.basecall.caller import call_read
from flow.cli.common import staged_file
from flow.data.chunks import default_overlap
from flow.data.fastx import format_fastq
from flow.data.read import ReadFailure
from flow.data.readers import expand_inputs, iter_reads
from flow.errors import FlowError

DEFAULT_CHUNK_LEN = 4200


def add_arguments(p):
    p.add_argument("model", help="model file (.pt) or a shipped model name; with --exact also a build directory or a dataflow .onnx")
    p.add_argument("inputs", nargs="+", help="signal files or directories")
    p.add_argument("-o", "--out", type=Path, help="output FASTQ (default: standard output)")
    p.add_argument("--exact", action="store_true",
                   help="run the integer dataflow graph (what the accelerator computes) instead of the float32 model")
    p.add_argument("--beam", type=int, default=0, help="prefix beam search width (default: greedy)")
    p.add_argument("--chunk-len", type=int, default=None,
                   help=f"samples per chunk, a multiple of the model stride (default {DEFAULT_CHUNK_LEN}; a build's own with --exact)")
    p.add_argument("--overlap", type=int, default=None,
                   help="samples shared by neighbouring chunks (default: a seventh of the chunk, rounded to the stride)")
    p.add_argument("--threads", type=int, default=2)


def load_caller(model: str, exact: bool, chunk_len: int | None):
    """(torch model or exact scorer, chunk length, stride) for a model argument."""
    if exact:
        from flow.ir.basecall import exact_scorer

        scorer = exact_scorer(model, chunk_len)
        return scorer, scorer.chunk_len, scorer.stride
    if Path(model).is_dir():
        raise FlowError(f"{model} is a directory: a build directory holds the integer graph, basecall it with --exact")
    from flow.nn.checkpoint import load_model

    net, _ = load_model(model)
    return net, chunk_len or DEFAULT_CHUNK_LEN, net.stride


@contextlib.contextmanager
def _fastq_sink(out: Path | None):
    """The staged -o file, or standard output (a reader that stops early, `| head`, ends the run quietly)."""
    if out is None:
        try:
            yield sys.stdout
            sys.stdout.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            raise SystemExit(1) from None
        return
    with staged_file(out) as tmp, open(tmp, "w") as f:
        yield f


def run(args):
    torch.set_num_threads(args.threads)
    files = expand_inputs(args.inputs)
    failures, n_calls, samples = [], 0, 0
    with _fastq_sink(args.out) as out:  # first, so an output that cannot be written fails before any work
        caller, chunk_len, stride = load_caller(args.model, args.exact, args.chunk_len)
        overlap = args.overlap if args.overlap is not None else default_overlap(chunk_len, stride)
        for path in files:
            for read in tqdm(iter_reads(path), desc=f"basecall {path.name}", unit="read", file=sys.stderr):
                if isinstance(read, ReadFailure):
                    tqdm.write(f"error: {read}", file=sys.stderr)  # on its own line, not inside the progress bar
                    failures.append(read)
                    continue
                call = call_read(caller, read, chunk_len, overlap, args.beam)
                out.write(format_fastq(call.read_id, call.sequence, call.quality, f"samples={call.samples} mean_q={call.mean_q:.1f}"))
                n_calls += 1
                samples += call.samples
        if failures and not n_calls:  # nothing called (the errors are above): no output file
            print(f"no read called; {len(failures)} failed (listed above)", file=sys.stderr)
            raise SystemExit(1)
    where = args.out or "standard output"
    path = "integer dataflow graph" if args.exact else "float model"
    print(f"{n_calls} reads ({samples:,} samples, {path}) → {where}" + (f"; {len(failures)} failed (listed above)" if failures else ""),
          file=sys.stderr)
    return 1 if failures else 0
