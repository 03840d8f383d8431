"""CTC decoding: greedy (best path) and prefix beam search, with per-base qualities."""
import numpy as np

from flow.data.read import decode_bases


def greedy_decode(log_probs: np.ndarray) -> tuple[str, np.ndarray]:
    """Best path of [T, C] log-probs → (sequence, per-base probability of the emitting frame)."""
    path = log_probs.argmax(axis=1)
    keep = path != 0
    keep[1:] &= path[1:] != path[:-1]
    frames = np.nonzero(keep)[0]
    probs = np.exp(log_probs[frames, path[frames]])
    return decode_bases(path[frames]), probs


def beam_decode(log_probs: np.ndarray, beam_width: int = 5, prune: float = -10.0) -> str:
    """CTC prefix beam search over [T, C] log-probs (class 0 = blank)."""
    beams = {(): (0.0, -np.inf)}  # prefix -> (log P ending in blank, log P ending in non-blank)
    for t in range(log_probs.shape[0]):
        row = log_probs[t]
        candidates = [c for c in range(1, row.size) if row[c] > prune] or [int(row[1:].argmax()) + 1]
        nxt: dict[tuple, list[float]] = {}

        def add(prefix, blank, nonblank):
            cur = nxt.setdefault(prefix, [-np.inf, -np.inf])
            cur[0] = np.logaddexp(cur[0], blank)
            cur[1] = np.logaddexp(cur[1], nonblank)

        for prefix, (pb, pnb) in beams.items():
            total = np.logaddexp(pb, pnb)
            add(prefix, total + row[0], -np.inf)
            last = prefix[-1] if prefix else None
            for c in candidates:
                if c == last:
                    add(prefix, -np.inf, pnb + row[c])  # repeat collapses
                    add(prefix + (c,), -np.inf, pb + row[c])  # repeat after a blank
                else:
                    add(prefix + (c,), -np.inf, total + row[c])
        ranked = sorted(nxt.items(), key=lambda kv: np.logaddexp(*kv[1]), reverse=True)[:beam_width]
        beams = {k: tuple(v) for k, v in ranked}
    best = max(beams.items(), key=lambda kv: np.logaddexp(*kv[1]))[0]
    return decode_bases(np.array(best, dtype=np.int64))


def phred(probs: np.ndarray, cap: int = 50) -> str:
    """Per-base correctness probabilities → FASTQ quality string."""
    err = np.clip(1.0 - probs, 10 ** (-cap / 10), 1.0)
    q = np.clip(np.round(-10 * np.log10(err)), 0, cap).astype(np.int64)
    return (q + 33).astype(np.uint8).tobytes().decode("ascii")
