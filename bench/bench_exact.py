"""Basecalling speed of the float32 model vs the exact integer dataflow graph (`basecall --exact`)
on the real R9.4.1 reads in shared data: samples/s of the whole call (normalise, chunk, score,
stitch, greedy decode), after one warm-up read; the export and lowering are timed apart.

Usage: python bench/bench_exact.py [--models rubicall_pynq heron_dp] [--threads 2] [--chunk-len 4200] [--repeat 3]
"""
import argparse
import time

import torch

from flow.basecall.caller import call_read
from flow.data.read import Read
from flow.data.readers import expand_inputs, iter_reads
from flow.ir.basecall import exact_scorer
from flow.nn.checkpoint import load_model
from flow.paths import FAST5_DIR, MAPPED_SIGNAL_SAMPLE, data_file


def real_reads() -> list[Read]:
    files = expand_inputs([str(data_file(MAPPED_SIGNAL_SAMPLE)), str(data_file(FAST5_DIR))])
    return [r for path in files for r in iter_reads(path) if isinstance(r, Read)]


def rate(caller, reads, chunk_len: int, repeat: int) -> float:
    """Best samples/s of `repeat` passes over the reads (the machine may be shared)."""
    overlap = chunk_len // 7 // 3 * 3
    call_read(caller, reads[0], chunk_len, overlap)  # warm-up: allocators, thread pools
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        samples = sum(call_read(caller, r, chunk_len, overlap).samples for r in reads)
        best = max(best, samples / (time.perf_counter() - start))
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", nargs="+", default=["rubicall_pynq", "heron_dp"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--chunk-len", type=int, default=4200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    reads = real_reads()
    print(f"threads={args.threads}  chunk {args.chunk_len}  {len(reads)} real reads, {sum(r.signal.size for r in reads):,} samples, greedy")
    print(f"{'model':<16}{'float samples/s':>17}{'exact samples/s':>17}{'exact/float':>13}{'export+lower s':>16}")
    for name in args.models:
        model, _ = load_model(name)
        start = time.perf_counter()
        scorer = exact_scorer(name, args.chunk_len)
        prepare = time.perf_counter() - start
        f = rate(model, reads, args.chunk_len, args.repeat)
        e = rate(scorer, reads, args.chunk_len, args.repeat)
        print(f"{name:<16}{f:>17,.0f}{e:>17,.0f}{e / f:>13.2f}{prepare:>16.1f}")


if __name__ == "__main__":
    main()
