"""k-mer current-level tables (ONT legacy `.model` TSV: kmer, level_mean, level_stdv, ...)."""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flow.data.read import BASES, encode_bases
from flow.errors import FlowError


@dataclass
class PoreModel:
    """Levels indexed by the k-mer's base-4 code (A=0 … T=3, first base most significant).

    `centre` is the position of the current base inside the k-mer: level of base i is
    `table[ref[i-centre : i-centre+k]]` (centre 2 for the R9.4.1 6-mer model, DESIGN §9).
    """

    k: int
    level_mean: np.ndarray
    level_stdv: np.ndarray
    centre: int = 2

    @classmethod
    def load(cls, path) -> "PoreModel":
        path = Path(path)
        try:
            rows = [line.split("\t") for line in path.read_text().splitlines() if line and not line.startswith("kmer")]
            kmers = [r[0] for r in rows]
            k = len(kmers[0])
            means = np.zeros(4**k, dtype=np.float64)
            stdvs = np.zeros(4**k, dtype=np.float64)
            for row in rows:
                idx = int(kmer_codes(row[0], k)[0])
                means[idx], stdvs[idx] = float(row[1]), float(row[2])
        except (OSError, IndexError, ValueError) as exc:
            raise FlowError(f"pore model {path} is unreadable ({exc}); expected the ONT .model TSV") from None
        if len(rows) != 4**k:
            raise FlowError(f"pore model {path} has {len(rows)} rows, expected {4**k} for k={k}")
        return cls(k=k, level_mean=means, level_stdv=stdvs)

    def levels(self, seq: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean and SD of the level of every base that has full k-mer context.

        Returns arrays of length len(seq) - k + 1, for bases centre .. len(seq)-k+centre.
        """
        idx = kmer_codes(seq, self.k)
        return self.level_mean[idx], self.level_stdv[idx]


def kmer_codes(seq: str, k: int) -> np.ndarray:
    """Base-4 index of every k-mer of seq (length len(seq) - k + 1)."""
    codes = encode_bases(seq).astype(np.int64) - 1
    if len(codes) < k:
        raise ValueError(f"sequence shorter than k={k}")
    weights = 4 ** np.arange(k - 1, -1, -1)
    windows = np.lib.stride_tricks.sliding_window_view(codes, k)
    return windows @ weights


def reverse_complement(seq: str) -> str:
    return seq.translate(str.maketrans("ACGTacgt", "TGCAtgca"))[::-1]


def random_genome(length: int, rng: np.random.Generator) -> str:
    return np.frombuffer(BASES.encode(), dtype=np.uint8)[rng.integers(0, 4, size=length)].tobytes().decode()
