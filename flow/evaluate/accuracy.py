"""Bonito's accuracy: local (Smith–Waterman) alignment of the call to its reference, then
matches / (matches + mismatches + insertions + deletions) over the aligned part.

Scoring follows Bonito (gap open 8, extend 4, NUC.4.4 'dnafull' matrix); unaligned call
ends are soft clips and do not count. A call whose alignment covers under half of its
reference scores 0.
"""
import re
from dataclasses import dataclass

import parasail

from flow.data.pore_model import reverse_complement

GAP_OPEN, GAP_EXTEND = 8, 4
_CIGAR = re.compile(r"(\d+)([=XIDMS])")


@dataclass
class Alignment:
    matches: int
    mismatches: int
    insertions: int
    deletions: int
    ref_start: int
    ref_end: int
    strand: str

    @property
    def accuracy(self) -> float:
        total = self.matches + self.mismatches + self.insertions + self.deletions
        return self.matches / total if total else 0.0


def _local(call: str, reference: str, strand: str) -> Alignment:
    res = parasail.sw_trace_striped_32(call, reference, GAP_OPEN, GAP_EXTEND, parasail.dnafull)
    ops = [(int(n), op) for n, op in _CIGAR.findall(res.cigar.decode.decode())]
    ref_start = res.cigar.beg_ref
    # parasail may open the path with a gap run against the unaligned prefix: that is a clip.
    if ops and ops[0][1] in "ID":
        if ops[0][1] == "D":
            ref_start += ops[0][0]
        ops = ops[1:]
    counts = {"=": 0, "X": 0, "I": 0, "D": 0}
    for n, op in ops:
        if op in counts:
            counts[op] += n
    return Alignment(counts["="], counts["X"], counts["I"], counts["D"], ref_start, res.end_ref + 1, strand)


def align(call: str, reference: str, both_strands: bool = False) -> Alignment | None:
    """Best local alignment of the call (and, with `both_strands`, its reverse complement)."""
    if not call or not reference:
        return None
    candidates = [("+", call)] + ([("-", reverse_complement(call))] if both_strands else [])
    best = None
    for strand, query in candidates:
        aln = _local(query, reference, strand)
        if best is None or aln.matches - aln.mismatches - aln.insertions - aln.deletions > \
                best.matches - best.mismatches - best.insertions - best.deletions:
            best = aln
    return best


def accuracy(call: str, reference: str, min_coverage: float = 0.5) -> float:
    """Accuracy of a call against its own reference; 0 when under `min_coverage` of it is aligned."""
    aln = align(call, reference)
    if aln is None or (aln.ref_end - aln.ref_start) / len(reference) < min_coverage:
        return 0.0
    return aln.accuracy
