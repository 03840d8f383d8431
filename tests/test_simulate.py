"""The simulator: determinism, consistent truth, POD5 round trip, realistic statistics."""
import numpy as np

from flow.data.pore_model import random_genome
from flow.data.readers import load_reads
from flow.data.realism import signal_stats
from flow.data.simulate import SimConfig, simulate_genome, simulate_read, write_mapped_signal, write_pod5


def test_deterministic_for_a_seed(pore_model):
    genome = {"g": random_genome(20_000, np.random.default_rng(0))}
    cfg = SimConfig(min_length=500, mean_length=800)
    a = [s.read for s in simulate_genome(genome, 3, pore_model, cfg, seed=9)]
    b = [s.read for s in simulate_genome(genome, 3, pore_model, cfg, seed=9)]
    c = [s.read for s in simulate_genome(genome, 3, pore_model, cfg, seed=10)]
    assert all(np.array_equal(x.signal, y.signal) and x.read_id == y.read_id for x, y in zip(a, b))
    assert not np.array_equal(a[0].signal[:100], c[0].signal[:100])


def test_truth_matches_kmer_levels(pore_model):
    """Without noise or level jitter, every base's samples sit on table[ref[i-2:i+4]]."""
    seq = random_genome(300, np.random.default_rng(1))
    quiet = SimConfig(level_jitter=0, sublevel_sd=0, noise_sd=0, wander_sd=0, scale_sd=0, shift_sd=0, stall_prob=0)
    sim = simulate_read(seq, pore_model, quiet, np.random.default_rng(2))
    read = sim.read
    assert read.reference == seq[2 : 2 + len(seq) - 5]
    pa = read.pa()
    means, _ = pore_model.levels(seq)
    step = read.range / read.digitisation
    for i in range(0, len(read.reference), 37):
        seg = pa[read.ref_to_signal[i] : read.ref_to_signal[i + 1]]
        assert np.all(np.abs(seg - means[i]) <= step)


def test_pod5_and_truth_round_trip(sim_reads, tmp_path):
    write_pod5(tmp_path / "r.pod5", sim_reads)
    write_mapped_signal(tmp_path / "t.hdf5", sim_reads)
    pod5_reads, f1 = load_reads([tmp_path / "r.pod5"])
    truth, f2 = load_reads([tmp_path / "t.hdf5"])
    assert not f1 and not f2
    assert [r.read_id for r in pod5_reads] == [r.read_id for r in sim_reads]
    truth = {r.read_id: r for r in truth}
    for orig, a in zip(sim_reads, pod5_reads):
        b = truth[orig.read_id]
        assert np.array_equal(orig.signal, a.signal) and np.allclose(orig.pa(), a.pa(), atol=1e-3)
        assert b.reference == orig.reference and np.array_equal(b.ref_to_signal, orig.ref_to_signal)


def test_defaults_match_the_real_mapped_signal_sample(pore_model, shared):
    """Default settings land near the figures measured on real R9.4.1 reads (same measurement)."""
    real, _ = load_reads([shared / "reads/r9.4.1_mapped_signal_sample.hdf5"])
    genome = {"g": random_genome(200_000, np.random.default_rng(4))}
    sim = [s.read for s in simulate_genome(genome, 40, pore_model, SimConfig(mean_length=2000), seed=1)]
    r, s = signal_stats(real), signal_stats(sim)
    assert abs(s["dwell_mean"] - r["dwell_mean"]) < 1.0
    assert abs(s["dwell_sd"] - r["dwell_sd"]) < 2.0
    assert s["dwell_median"] == r["dwell_median"]
    assert abs(s["white_noise_robust"] - r["white_noise_robust"]) < 0.5
    assert s["within_base_kurtosis"] > 4  # heavy tails, as real
    assert 0.2 < s["within_base_lag1"] < 0.7
