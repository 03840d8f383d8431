"""Alignment-based accuracy of basecalls against references (edlib)."""
import re
from dataclasses import dataclass

import edlib

from flow.data.pore_model import reverse_complement

_CIGAR = re.compile(r"(\d+)([=XID])")


@dataclass
class Alignment:
    matches: int
    mismatches: int
    insertions: int
    deletions: int
    ref_start: int
    ref_end: int
    strand: str
    target: str = ""

    @property
    def accuracy(self) -> float:
        total = self.matches + self.mismatches + self.insertions + self.deletions
        return self.matches / total if total else 0.0


def _counts(cigar: str) -> dict[str, int]:
    counts = {"=": 0, "X": 0, "I": 0, "D": 0}
    for n, op in _CIGAR.findall(cigar):
        counts[op] += int(n)
    return counts


def align(call: str, reference: str, infix: bool = True, both_strands: bool = False) -> Alignment | None:
    """Align a call to a reference; infix mode lets the call sit anywhere inside the reference.

    With `both_strands`, the reverse complement of the call is tried too and the better
    alignment is kept. None when the call is empty.
    """
    if not call or not reference:
        return None
    best = None
    candidates = [("+", call)] + ([("-", reverse_complement(call))] if both_strands else [])
    for strand, query in candidates:
        res = edlib.align(query, reference, mode="HW" if infix else "NW", task="path")
        if res["editDistance"] < 0:
            continue
        if best is None or res["editDistance"] < best[1]["editDistance"]:
            best = (strand, res)
    if best is None:
        return None
    strand, res = best
    c = _counts(res["cigar"])
    start, end = res["locations"][0]
    # edlib's I/D are from the query's view: I = extra base in the call (insertion).
    return Alignment(c["="], c["X"], c["I"], c["D"], start, end + 1, strand)


def accuracy(call: str, reference: str, min_coverage: float = 0.5) -> float:
    """Bonito accuracy of a call against its own (per-read) reference; 0 below the coverage bound."""
    aln = align(call, reference, infix=True)
    if aln is None or (aln.ref_end - aln.ref_start) / len(reference) < min_coverage:
        return 0.0
    return aln.accuracy
