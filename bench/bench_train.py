"""Training steps/s and basecalling samples/s of every shipped model config on this machine.

Usage: python bench/bench_train.py [--steps N] [--batch B] [--chunk-len L] [--threads T]
"""
import argparse
import time

import numpy as np
import torch

from flow.basecall.caller import call_read
from flow.data.pore_model import PoreModel, random_genome
from flow.data.simulate import SimConfig, simulate_genome
from flow.nn.config import load_model_spec
from flow.nn.model import build_model, count_parameters
from flow.paths import MODELS_DIR, PORE_MODEL, data_file
from flow.train.ctc import ctc_loss


def train_rate(model, steps: int, batch: int, chunk_len: int) -> float:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(batch, 1, chunk_len)).astype(np.float32))
    y = torch.from_numpy(rng.integers(1, 5, size=(batch, chunk_len // 12)))
    lengths = torch.full((batch,), y.shape[1], dtype=torch.int64)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for i in range(steps + 2):
        if i == 2:  # first steps warm caches and allocators
            start = time.perf_counter()
        loss = ctc_loss(model(x), y, lengths)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - start)


def call_rate(model, reads) -> float:
    model.eval()
    start = time.perf_counter()
    samples = sum(call_read(model, r).samples for r in reads)
    return samples / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--chunk-len", type=int, default=4000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pore = PoreModel.load(data_file(PORE_MODEL))
    genome = {"g": random_genome(200_000, np.random.default_rng(1))}
    reads = [s.read for s in simulate_genome(genome, 5, pore, SimConfig(), seed=1)]
    print(f"threads={args.threads}  batch={args.batch} x {args.chunk_len} samples  basecall: {sum(r.signal.size for r in reads):,} samples, greedy")
    print(f"{'model':<12}{'params':>10}{'train steps/s':>15}{'train samples/s':>17}{'basecall samples/s':>20}")
    for path in sorted(MODELS_DIR.glob("*.yaml")):
        model = build_model(load_model_spec(str(path)))
        steps = train_rate(model, args.steps, args.batch, args.chunk_len)
        calls = call_rate(model, reads)
        print(f"{path.stem:<12}{count_parameters(model):>10,}{steps:>15.2f}{steps * args.batch * args.chunk_len:>17,.0f}{calls:>20,.0f}")


if __name__ == "__main__":
    main()
