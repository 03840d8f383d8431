"""The in-memory read every reader produces and every consumer takes."""
from dataclasses import dataclass, field

import numpy as np

BASES = "ACGT"


@dataclass
class Read:
    """One raw nanopore read with its own calibration.

    `reference` and `ref_to_signal` are set only when the source carries labels
    (Taiyaki mapped signal, simulator truth): `ref_to_signal[i]` is the first sample of
    base i, and `ref_to_signal[-1]` is one past the last sample of the last base.
    """

    read_id: str
    signal: np.ndarray  # raw ADC values, int16
    offset: float
    range: float
    digitisation: float
    sample_rate: float
    source: str = ""
    reference: str | None = None
    ref_to_signal: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def pa(self) -> np.ndarray:
        """Signal in picoamps: (raw + offset) · range / digitisation."""
        return (self.signal.astype(np.float32) + np.float32(self.offset)) * np.float32(
            self.range / self.digitisation
        )


@dataclass
class ReadFailure:
    """A read (or a whole file, read_id None) that could not be decoded."""

    path: str
    read_id: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}" + (f" read {self.read_id}" if self.read_id else "")
        return f"{where}: {self.reason}"


def encode_bases(seq: str) -> np.ndarray:
    """ACGT string → uint8 labels 1..4 (0 is the CTC blank)."""
    lut = np.zeros(256, dtype=np.uint8)
    for i, b in enumerate(BASES):
        lut[ord(b)] = i + 1
        lut[ord(b.lower())] = i + 1
    codes = lut[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]
    if (codes == 0).any():
        bad = seq[int(np.argmax(codes == 0))]
        raise ValueError(f"sequence has a non-ACGT base {bad!r}")
    return codes


def decode_bases(labels: np.ndarray) -> str:
    """Labels 1..4 → ACGT string."""
    table = np.frombuffer(b"NACGT", dtype=np.uint8)
    return table[np.asarray(labels, dtype=np.int64)].tobytes().decode("ascii")
