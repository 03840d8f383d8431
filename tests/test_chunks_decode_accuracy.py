"""Chunking, stitching, CTC decoding and the accuracy definition."""
import numpy as np
import pytest

from flow.decode.ctc import beam_decode, greedy_decode, phred
from flow.basecall.stitch import stitch
from flow.data.chunks import basecall_chunks, labelled_chunks
from flow.data.read import decode_bases, encode_bases
from flow.evaluate.accuracy import accuracy, align


def test_labelled_chunks_hold_exactly_the_bases_inside(sim_reads):
    read = sim_reads[0]
    chunks, refs = labelled_chunks(read, 2000)
    assert chunks and all(c.shape == (2000,) for c in chunks)
    r2s = read.ref_to_signal
    labels = encode_bases(read.reference)
    for k, ref in enumerate(refs):
        start = r2s[0] + k * 2000
        inside = np.nonzero((r2s[:-1] >= start) & (r2s[1:] <= start + 2000))[0]
        assert np.array_equal(ref, labels[inside])


@pytest.mark.parametrize("n", [1, 999, 4000, 4001, 12345])
def test_stitch_rebuilds_a_per_frame_signal(n):
    """Chunk a known per-frame track, 'run' an identity network, stitch: the track comes back."""
    stride, chunk_len, overlap = 3, 900, 150
    signal = np.arange(n, dtype=np.float32)
    chunks, starts = basecall_chunks(signal, chunk_len, overlap, stride)
    assert chunks.shape[1] == chunk_len and starts[-1] + chunk_len >= n and np.all(starts % stride == 0)
    scores = chunks[:, ::stride, None]  # frame f of a chunk = its sample f*stride
    out = stitch(scores, starts, n, stride)
    assert np.array_equal(out[:, 0], np.arange(0, n, stride))


def _log_probs(path, peak=0.9):
    lp = np.full((len(path), 5), np.log((1 - peak) / 4))
    lp[np.arange(len(path)), path] = np.log(peak)
    return lp


def test_greedy_collapses_repeats_and_blanks():
    seq, probs = greedy_decode(_log_probs([0, 1, 1, 0, 1, 2, 2, 2, 0, 4, 3]))
    assert seq == "AACTG" and probs.shape == (5,) and np.allclose(probs, 0.9)


def test_beam_equals_greedy_on_peaked_posteriors_and_beats_it_on_a_split_path():
    lp = _log_probs([0, 1, 1, 0, 1, 2, 2, 2, 0, 4, 3])
    assert beam_decode(lp, 5) == greedy_decode(lp)[0]
    # Best path says blank-blank, but "A" has total probability 0.64 > 0.36.
    lp = np.log(np.array([[0.6, 0.4, 0, 0, 0], [0.6, 0.4, 0, 0, 0]]) + 1e-12)
    assert greedy_decode(lp)[0] == ""
    assert beam_decode(lp, 3) == "A"


def test_phred():
    assert phred(np.array([0.9, 0.99, 0.5])) == "".join(chr(33 + q) for q in (10, 20, 3))


def test_accuracy_definition():
    ref = "ACGTACGTTAGCCGATAGGACTTACAGATTACA"
    assert accuracy(ref, ref) == 1.0
    mismatch = ref[:10] + ("A" if ref[10] != "A" else "C") + ref[11:]
    assert accuracy(mismatch, ref) == pytest.approx(32 / 33)
    deletion = ref[:10] + ref[11:]
    assert accuracy(deletion, ref) == pytest.approx(32 / 33)
    insertion = ref[:10] + "T" + ref[10:]
    assert accuracy(insertion, ref) == pytest.approx(33 / 34)
    assert accuracy(ref[:10], ref) == 0.0  # covers under half the reference
    assert accuracy("", ref) == 0.0
    # unaligned junk at the ends of a call is clipped, as in Bonito's local alignment
    assert accuracy("TTTTTTTTTTTT" + ref + "GGGGGGGGGGGG", ref) == 1.0


def test_align_finds_the_reverse_strand():
    genome = "".join(np.random.default_rng(0).choice(list("ACGT"), 3000))
    from flow.data.pore_model import reverse_complement

    call = reverse_complement(genome[1000:1400])
    aln = align(call, genome, both_strands=True)
    assert aln.strand == "-" and aln.accuracy == 1.0 and (aln.ref_start, aln.ref_end) == (1000, 1400)


def test_label_codes_round_trip():
    assert decode_bases(encode_bases("GATTACA")) == "GATTACA"
    with pytest.raises(ValueError):
        encode_bases("GANTACA")
