"""Every reader on the real files in shared data, and on corrupted copies."""
import h5py
import numpy as np
import pytest

from conftest import copy, truncated_copy, write_multi_fast5
from flow.data.read import ReadFailure
from flow.data.readers import expand_inputs, iter_reads, load_reads
from flow.errors import FlowError

FAST5_IDS = {"0f776a08", "1f1a0f33", "b7096acd", "db6b45aa", "de1508c4"}


def _ok(items):
    return [r for r in items if not isinstance(r, ReadFailure)], [r for r in items if isinstance(r, ReadFailure)]


def test_single_read_fast5(shared):
    reads, failures = load_reads([shared / "reads/r9.4.1_fast5"])
    assert not failures
    assert {r.read_id[:8] for r in reads} == FAST5_IDS
    for r in reads:
        assert r.signal.dtype == np.int16 and r.sample_rate == 4000
        assert 50 < np.median(r.pa()) < 150  # R9.4.1 open-channel-free read levels in pA


def test_mapped_signal(shared):
    reads, failures = load_reads([shared / "reads/r9.4.1_mapped_signal_sample.hdf5"])
    assert not failures and len(reads) == 2
    for r in reads:
        assert len(r.ref_to_signal) == len(r.reference) + 1
        assert set(r.reference) <= set("ACGT")
        assert r.ref_to_signal[-1] <= r.signal.size


def test_slow5(shared):
    reads, failures = load_reads([shared / "reads/slow5/minir10dna.blow5"])
    assert not failures and len(reads) == 8
    assert all(r.signal.size > 1000 for r in reads)


def test_unlabelled_blow5_count(shared):
    reads, failures = load_reads([shared / "reads/unlabelled_r9.4.1/unlabelled_r9.4.1_dna.blow5"])
    assert not failures
    assert len(reads) == 262
    assert sum(r.signal.size for r in reads) == 20_722_031


def test_pod5(shared):
    reads, failures = load_reads([shared / "reads/r10.4.1_pod5/can_reads.pod5"])
    assert not failures and len(reads) == 14
    assert all(40 < np.median(r.pa()) < 200 for r in reads)


def test_multi_read_fast5(shared, tmp_path):
    singles, _ = load_reads([shared / "reads/r9.4.1_fast5"])
    path = write_multi_fast5(tmp_path / "multi.fast5", singles)
    with h5py.File(path, "a") as f:
        del f[f"read_{singles[1].read_id}/Raw/Signal"]  # one damaged read
    reads, failures = _ok(list(iter_reads(path)))
    assert len(reads) == 4 and len(failures) == 1
    assert failures[0].read_id == singles[1].read_id and str(path) in str(failures[0])
    by_id = {r.read_id: r for r in singles}
    for r in reads:
        assert np.array_equal(r.signal, by_id[r.read_id].signal)


@pytest.mark.parametrize("relpath", [
    "reads/r9.4.1_fast5/db6b45aa-5d21-45cf-a435-05fb8f12e839.fast5",
    "reads/r9.4.1_mapped_signal_sample.hdf5",
    "reads/slow5/minir10dna.blow5",
    "reads/r10.4.1_pod5/can_reads.pod5",
])
def test_truncated_file_gives_one_clear_failure(shared, tmp_path, relpath):
    src = shared / relpath
    bad = truncated_copy(src, tmp_path / src.name, 0.4)
    reads, failures = _ok(list(iter_reads(bad)))
    assert failures, "a truncated file must be reported"
    assert str(bad) in str(failures[-1])


def test_corrupt_read_in_mapped_signal_keeps_the_others(shared, tmp_path):
    path = copy(shared / "reads/r9.4.1_mapped_signal_sample.hdf5", tmp_path / "mapped.hdf5")
    with h5py.File(path, "a") as f:
        first = next(iter(f["Reads"]))
        del f[f"Reads/{first}/Ref_to_signal"]
        f[f"Reads/{first}"].create_dataset("Ref_to_signal", data=np.array([5, 3, 1], dtype=np.int32))
    reads, failures = _ok(list(iter_reads(path)))
    assert len(reads) == 1 and len(failures) == 1 and failures[0].read_id == first


def test_unknown_suffix_and_missing_file(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(FlowError, match="unknown signal file type"):
        expand_inputs([tmp_path / "x.txt"])
    with pytest.raises(FlowError, match="does not exist"):
        expand_inputs([tmp_path / "nope.pod5"])
