"""Basecall signal files (POD5, FAST5, SLOW5/BLOW5, mapped signal) to FASTQ with a trained model."""
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from flow.basecall.caller import call_read
from flow.cli.common import staged_file
from flow.data.fastx import format_fastq
from flow.data.read import ReadFailure
from flow.data.readers import expand_inputs, iter_reads
from flow.nn.checkpoint import load_model


def add_arguments(p):
    p.add_argument("model", help="model file (.pt) or a shipped model name")
    p.add_argument("inputs", nargs="+", help="signal files or directories")
    p.add_argument("-o", "--out", required=True, type=Path, help="output FASTQ")
    p.add_argument("--beam", type=int, default=0, help="prefix beam search width (default: greedy)")
    p.add_argument("--chunk-len", type=int, default=4200, help="samples per chunk, a multiple of the model stride (default %(default)s)")
    p.add_argument("--overlap", type=int, default=600, help="samples shared by neighbouring chunks (default %(default)s)")
    p.add_argument("--threads", type=int, default=2)


def run(args):
    torch.set_num_threads(args.threads)
    model, _ = load_model(args.model)
    files = expand_inputs(args.inputs)
    failures, n_calls, samples = [], 0, 0
    with staged_file(args.out) as tmp, open(tmp, "w") as out:
        for path in files:
            for read in tqdm(iter_reads(path), desc=f"basecall {path.name}", unit="read"):
                if isinstance(read, ReadFailure):
                    print(f"error: {read}", file=sys.stderr)
                    failures.append(read)
                    continue
                call = call_read(model, read, args.chunk_len, args.overlap, args.beam)
                out.write(format_fastq(call.read_id, call.sequence, call.quality, f"samples={call.samples} mean_q={call.mean_q:.1f}"))
                n_calls += 1
                samples += call.samples
    print(f"{n_calls} reads ({samples:,} samples) → {args.out}" + (f"; {len(failures)} failed (listed above)" if failures else ""))
    return 1 if failures else 0
