"""Cutting reads into fixed-length chunks: labelled (training, Bonito layout) and unlabelled (basecalling)."""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flow.data.normalise import normalise
from flow.data.read import Read, encode_bases
from flow.errors import FlowError


OVERLAP_FRACTION = 7  # neighbouring basecall chunks share a seventh of a chunk (600 of 4200 samples)


def default_overlap(chunk_len: int, stride: int = 1) -> int:
    """Samples that neighbouring chunks of a read share by default (a multiple of the model stride):
    signal seen twice, so not new signal for throughput (the build's effective samples/s)."""
    return chunk_len // OVERLAP_FRACTION // stride * stride


def new_samples(chunk_len: int, stride: int = 1) -> int:
    """Samples of a chunk not already in the previous chunk: what counts toward effective throughput."""
    return chunk_len - default_overlap(chunk_len, stride)


def labelled_chunks(read: Read, chunk_len: int, min_bases: int = 5) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Consecutive chunks of the aligned part of a read, each with the bases inside it.

    The read is normalised as a whole (as at basecalling time); a base belongs to a chunk
    when all its samples fall inside the chunk.
    """
    signal = normalise(read.pa())
    r2s = read.ref_to_signal
    labels = encode_bases(read.reference)
    chunks, refs = [], []
    for start in range(int(r2s[0]), int(r2s[-1]) - chunk_len + 1, chunk_len):
        stop = start + chunk_len
        first = int(np.searchsorted(r2s[:-1], start, side="left"))
        last = int(np.searchsorted(r2s[1:], stop, side="right"))  # bases with end <= stop
        if last - first >= min_bases:
            chunks.append(signal[start:stop])
            refs.append(labels[first:last])
    return chunks, refs


@dataclass
class ChunkDataset:
    """Bonito layout, plus optional teacher logits for distillation.

    chunks [N, L] float16; references [N, S] uint8 (0-padded labels 1..4);
    reference_lengths [N]; teacher_logits [N, C, T'] float16 (optional).
    """

    chunks: np.ndarray
    references: np.ndarray
    reference_lengths: np.ndarray
    teacher_logits: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.chunks)


def pad_labels(refs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(r) for r in refs], dtype=np.uint16)
    padded = np.zeros((len(refs), max(1, int(lengths.max()))), dtype=np.uint8)
    for i, r in enumerate(refs):
        padded[i, : len(r)] = r
    return padded, lengths


def write_chunk_dataset(directory: Path, chunks: list[np.ndarray], refs: list[np.ndarray],
                        teacher_logits: np.ndarray | None = None) -> None:
    if not chunks:
        raise FlowError(f"no chunks to write to {directory}: reads too short for the chunk length?")
    directory.mkdir(parents=True, exist_ok=True)
    padded, lengths = pad_labels(refs)
    np.save(directory / "chunks.npy", np.stack(chunks).astype(np.float16))
    np.save(directory / "references.npy", padded)
    np.save(directory / "reference_lengths.npy", lengths)
    if teacher_logits is not None:
        np.save(directory / "teacher_logits.npy", teacher_logits.astype(np.float16))


def load_chunk_dataset(directory: Path) -> ChunkDataset:
    directory = Path(directory)
    try:
        teacher = directory / "teacher_logits.npy"
        return ChunkDataset(
            np.load(directory / "chunks.npy", mmap_mode="r"),
            np.load(directory / "references.npy"),
            np.load(directory / "reference_lengths.npy"),
            np.load(teacher, mmap_mode="r") if teacher.exists() else None,
        )
    except (OSError, ValueError) as exc:
        raise FlowError(f"{directory} is not a chunk dataset (chunks.npy, references.npy, reference_lengths.npy): {exc}") from None


def unlabelled_chunks(read: Read, chunk_len: int) -> list[np.ndarray]:
    """Consecutive non-overlapping chunks of a whole normalised read (distillation input)."""
    signal = normalise(read.pa())
    return [signal[s : s + chunk_len] for s in range(0, signal.size - chunk_len + 1, chunk_len)]


def basecall_chunks(signal: np.ndarray, chunk_len: int, overlap: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping chunks covering a whole normalised read.

    Every start is a multiple of the network's `stride`, so chunk frames line up with
    read frames; the read is zero-padded at its end to fill the last chunk. Returns the
    chunks [K, chunk_len] and their start samples.
    """
    if chunk_len % stride or (chunk_len - overlap) % stride or not 0 <= overlap < chunk_len:
        raise FlowError(f"chunk length {chunk_len} and overlap {overlap} must be multiples of the model stride {stride}, overlap < chunk length")
    n = signal.size
    last = max(0, -(-(n - chunk_len) // stride) * stride)
    starts = list(range(0, last, chunk_len - overlap)) + [last]
    padded = np.zeros(last + chunk_len, dtype=np.float32)
    padded[:n] = signal
    return np.stack([padded[s : s + chunk_len] for s in starts]), np.array(starts)
