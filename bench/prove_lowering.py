"""Export → lower → equivalence proof for every shipped model, printed as a table.

Usage: python bench/prove_lowering.py [--chunks 200] [--chunk-len 4200] [--seed 1]
Chunks are cut from simulated reads (default simulator settings) with the basecaller's
normalisation, plus four edge-case chunks (saturated high/low, zeros, alternating).
"""
import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from flow.data.chunks import basecall_chunks
from flow.data.normalise import normalise
from flow.data.pore_model import PoreModel, random_genome
from flow.data.simulate import SimConfig, simulate_genome
from flow.export.qonnx_export import export_model
from flow.ir.lower import lower_qonnx
from flow.ir.verify import prove_equivalence
from flow.nn.checkpoint import load_model
from flow.paths import MODELS_DIR, PORE_MODEL, data_file


def chunk_set(n: int, chunk_len: int, seed: int) -> np.ndarray:
    pore = PoreModel.load(data_file(PORE_MODEL))
    genome = {"g": random_genome(500_000, np.random.default_rng(seed))}
    chunks = []
    for sim in simulate_genome(genome, n, pore, SimConfig(), seed):
        chunks.extend(basecall_chunks(normalise(sim.read.pa()), chunk_len, 0, 3)[0])
        if len(chunks) >= n:
            break
    edge = np.stack([np.full(chunk_len, 2.5), np.full(chunk_len, -2.5), np.zeros(chunk_len),
                     np.tile([2.5, -2.5], chunk_len // 2)])
    return np.concatenate([np.stack(chunks[:n]), edge]).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--chunks", type=int, default=200)
    ap.add_argument("--chunk-len", type=int, default=4200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    chunks = chunk_set(args.chunks, args.chunk_len, args.seed)
    print(f"{len(chunks)} chunks of {args.chunk_len} samples")
    print(f"{'model':<14}{'streams':>8}{'elements':>14}{'mismatch':>9}{'logit err':>10}{'calls =':>9}{'bases =':>9}{'f32 flips':>10}{'time s':>8}")
    for path in sorted(MODELS_DIR.glob("*.pt")):
        model, _ = load_model(str(path))
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            exported = export_model(model, Path(tmp) / "m.onnx", args.chunk_len)
            r = prove_equivalence(model, exported, lower_qonnx(exported), chunks)
        print(f"{path.stem:<14}{r.streams_checked:>8}{r.elements_compared:>14,}{r.mismatched_elements:>9}"
              f"{r.max_logit_error_in_steps:>10.3g}{r.calls_identical:>5}/{r.chunks:<3}{100 * r.call_agreement:>8.2f}%{r.float32_boundary_flips:>10}"
              f"{time.perf_counter() - start:>8.1f}")


if __name__ == "__main__":
    main()
