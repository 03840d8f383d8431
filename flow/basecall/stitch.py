"""Joining the posteriors of overlapping chunks into one per read."""
import numpy as np


def stitch(chunk_scores: np.ndarray, starts: np.ndarray, n_samples: int, stride: int) -> np.ndarray:
    """[K, T', C] chunk outputs → [ceil(n/stride), C]; each overlap is split at its midpoint.

    Chunk starts are multiples of the stride (see `basecall_chunks`), so frame f of chunk
    k is read frame starts[k]/stride + f.
    """
    frames = chunk_scores.shape[1]
    total = -(-n_samples // stride)
    first = [int(s) // stride for s in starts]
    bounds = [0] + [(first[k + 1] + first[k] + frames) // 2 for k in range(len(first) - 1)] + [total]
    out = np.empty((total, chunk_scores.shape[2]), dtype=chunk_scores.dtype)
    for k in range(len(first)):
        lo, hi = bounds[k], min(bounds[k + 1], first[k] + frames)
        out[lo:hi] = chunk_scores[k, lo - first[k] : hi - first[k]]
    return out
