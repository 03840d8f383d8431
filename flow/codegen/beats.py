"""AXI-Stream beat packing shared by the flow and the generated PYNQ driver (which embeds
this module's source, so the board and the C-simulation pack chunks the same way)."""
import numpy as np


def pack_input(samples: np.ndarray, elem_bits: int, beat_bits: int) -> np.ndarray:
    """Integer samples [N, L] → uint64 beats [N, L·elem_bits/beat_bits], first sample in the low bits."""
    samples = np.asarray(samples, dtype=np.int64)
    per_beat = beat_bits // elem_bits
    n, length = samples.shape
    if length % per_beat:
        raise ValueError(f"a chunk of {length} samples does not fill whole beats of {per_beat} samples")
    lanes = (samples & ((1 << elem_bits) - 1)).astype(np.uint64).reshape(n, length // per_beat, per_beat)
    shifts = (np.arange(per_beat, dtype=np.uint64) * np.uint64(elem_bits))[None, None, :]
    return np.bitwise_or.reduce(lanes << shifts, axis=2)


def unpack_output(beats: np.ndarray, frames: int, classes: int) -> np.ndarray:
    """int32 output beats [N, frames·classes (+ 1 trailer)] → integer logits [N, frames, classes]."""
    beats = np.asarray(beats)
    return beats[:, : frames * classes].astype(np.int64).reshape(beats.shape[0], frames, classes)


def unpack_trailer(beats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The dynamic-pooling trailer, the last beat of each chunk → (valid frames [N], overflow [N])."""
    last = np.asarray(beats)[:, -1].astype(np.int64) & 0xFFFFFFFF
    return last & 0x7FFFFFFF, last >> 31
