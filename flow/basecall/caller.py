"""Read-level basecalling: normalise, chunk, run the network, stitch, decode."""
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from flow.basecall.stitch import stitch
from flow.data.chunks import basecall_chunks
from flow.data.normalise import normalise
from flow.data.read import Read
from flow.decode.ctc import beam_decode, greedy_decode, phred


@dataclass
class Call:
    read_id: str
    sequence: str
    quality: str
    samples: int

    @property
    def mean_q(self) -> float:
        return float(np.mean(np.frombuffer(self.quality.encode(), dtype=np.uint8) - 33)) if self.quality else 0.0


class Scorer(Protocol):
    """What turns chunks into posteriors: the float model (`ModelScorer`), or the integer dataflow
    graph (`flow.ir.basecall.ExactScorer`), so both share this module's chunking and stitching."""

    stride: int  # samples per output frame (before dynamic pooling)

    def __call__(self, chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Normalised chunks [B, L] → log-probabilities [B, T', classes] and, with dynamic pooling,
        the valid frames of each chunk [B] (None when every frame is valid)."""


class ModelScorer:
    """The float32 Brevitas model."""

    def __init__(self, model):
        self.model = model
        self.stride = model.stride
        self.dynamic = getattr(model, "dynamic_pool", None) is not None

    def __call__(self, chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        x = torch.from_numpy(np.ascontiguousarray(chunks, dtype=np.float32))[:, None, :]
        with torch.no_grad():
            if self.dynamic:
                log_probs, lengths = self.model.forward_with_lengths(x)
                return log_probs.permute(1, 0, 2).numpy(), lengths.numpy()
            return self.model(x).permute(1, 0, 2).numpy(), None


def as_scorer(model_or_scorer) -> Scorer:
    return ModelScorer(model_or_scorer) if isinstance(model_or_scorer, torch.nn.Module) else model_or_scorer


def read_posteriors(model, read: Read, chunk_len: int, overlap: int, batch_size: int = 32) -> np.ndarray:
    """Log-probabilities [frames, classes] over the whole read; `model` is a torch model or a `Scorer`."""
    scorer = as_scorer(model)
    signal = normalise(read.pa())
    chunks, starts = basecall_chunks(signal, chunk_len, overlap, scorer.stride)
    outputs, frames = [], []
    for i in range(0, len(chunks), batch_size):
        log_probs, lengths = scorer(chunks[i : i + batch_size])
        outputs.append(log_probs)
        frames.append(lengths)
    if frames[0] is not None:
        return stitch_variable_rate(np.concatenate(outputs), np.concatenate(frames), starts, signal.size, chunk_len)
    return stitch(np.concatenate(outputs), starts, signal.size, scorer.stride)


def stitch_variable_rate(chunk_scores: np.ndarray, lengths: np.ndarray, starts: np.ndarray, n_samples: int,
                         chunk_len: int) -> np.ndarray:
    """Stitch chunks whose frame rate differs (dynamic pooling): [K, L, C] with valid lengths [K] → [frames, C].

    Each overlap is split at its middle sample; a chunk's samples map to its frames
    linearly at that chunk's own rate (valid frames / chunk length).
    """
    bounds = [0] + [(int(starts[k + 1]) + int(starts[k]) + chunk_len) // 2 for k in range(len(starts) - 1)] + [n_samples]
    parts = []
    for k, start in enumerate(starts):
        rate = int(lengths[k]) / chunk_len
        lo = int(round((bounds[k] - int(start)) * rate))
        hi = min(int(lengths[k]), int(round((min(bounds[k + 1], int(start) + chunk_len) - int(start)) * rate)))
        parts.append(chunk_scores[k, lo:max(lo, hi)])
    return np.concatenate(parts) if parts else chunk_scores[:0, 0]


def call_read(model, read: Read, chunk_len: int = 4200, overlap: int = 600, beam: int = 0) -> Call:
    """Basecall one read with a torch model or a `Scorer`; greedy decoding unless `beam` > 1 (prefix beam search)."""
    log_probs = read_posteriors(model, read, chunk_len, overlap)
    seq, probs = greedy_decode(log_probs)
    quality = phred(probs)
    if beam > 1:
        seq = beam_decode(log_probs, beam)
        # Beam search has no single emitting frame per base: every base gets the read's mean quality.
        mean = np.mean(probs) if probs.size else 0.0
        quality = phred(np.full(len(seq), mean))
    return Call(read.read_id, seq, quality, int(read.signal.size))
