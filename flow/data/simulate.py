"""Read simulator: reference → raw int16 signal with a k-mer model and the true alignment.

Speed is the quantity dynamic pooling adapts to, so it varies at three scales, each
recorded per read: a per-read speed factor (log-normal), a slow within-read drift
(an Ornstein–Uhlenbeck process on log speed over bases) and per-base dwell drawn from a
gamma distribution with occasional long stalls. Noise is per-sample AR(1) noise with
heavy-tailed innovations plus a slow baseline wander; k-mer levels get a small per-base
jitter. The defaults are set against two references (README, "Simulator realism"): the
statistics measured on the real mapped-signal sample, and the accuracy the real-data
teacher reaches on simulated reads, which keeps the noise from being more random than
real signal is.
"""
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from flow.data.pore_model import PoreModel, reverse_complement
from flow.data.read import Read


@dataclass
class SimConfig:
    sample_rate: float = 4000.0
    mean_dwell: float = 8.8          # samples per base at speed factor 1 (before stalls)
    dwell_shape: float = 2.0         # gamma shape of per-base dwell
    stall_prob: float = 0.02         # chance that a base carries an extra stall
    stall_mean: float = 30.0         # mean extra samples of a stall (exponential)
    read_speed_sd: float = 0.12      # SD of log per-read speed factor
    drift_sd: float = 0.15           # stationary SD of the within-read log-speed drift
    drift_bases: float = 400.0       # correlation length of the drift, in bases
    level_jitter: float = 0.3        # × the pore model's level_stdv, per base
    sublevel_sd: float = 0.0         # pA, SD of two half-step levels inside a base (off by default, see README)
    noise_sd: float = 2.0            # pA, stationary SD of the per-sample noise (AR(1), t-distributed innovations)
    noise_phi: float = 0.45          # AR(1) coefficient of the per-sample noise (lag-1 correlation)
    noise_df: float = 4.0            # degrees of freedom of the noise innovations (heavy tails)
    wander_sd: float = 0.8           # pA, stationary SD of the slow AR(1) baseline wander
    wander_phi: float = 0.93         # AR(1) coefficient of the slow component
    scale_sd: float = 0.06           # per-read multiplicative scale SD
    shift_sd: float = 6.0            # per-read additive shift SD, pA
    digitisation: float = 8192.0
    range: float = 1444.86
    min_length: int = 2000           # bases
    mean_length: int = 6000          # bases (gamma-distributed read lengths)


@dataclass
class SimulatedRead:
    read: Read
    params: dict


def _ou_log_speed(n: int, cfg: SimConfig, rng: np.random.Generator) -> np.ndarray:
    if cfg.drift_sd <= 0:
        return np.zeros(n)
    phi = np.exp(-1.0 / cfg.drift_bases)
    innov = rng.normal(0.0, cfg.drift_sd * np.sqrt(1 - phi**2), size=n)
    out = np.empty(n)
    state = rng.normal(0.0, cfg.drift_sd)
    for i in range(n):  # sequential by nature; n is the number of bases (thousands)
        state = phi * state + innov[i]
        out[i] = state
    return out


def _ar1(n: int, sd: float, phi: float, rng: np.random.Generator) -> np.ndarray:
    if sd <= 0:
        return np.zeros(n)
    innov = rng.normal(0.0, sd * np.sqrt(1 - phi**2), size=n)
    return lfilter([1.0], [1.0, -phi], innov)


def simulate_read(seq: str, model: PoreModel, cfg: SimConfig, rng: np.random.Generator, read_id: str | None = None) -> SimulatedRead:
    """Simulate one read of `seq` (its bases with full k-mer context are the truth)."""
    means, stdvs = model.levels(seq)
    truth = seq[model.centre : model.centre + len(means)]
    n = len(means)
    speed = float(np.exp(rng.normal(0.0, cfg.read_speed_sd)))
    log_drift = _ou_log_speed(n, cfg, rng)
    base_mean = cfg.mean_dwell / (speed * np.exp(log_drift))
    dwell = rng.gamma(cfg.dwell_shape, base_mean / cfg.dwell_shape)
    stalls = rng.random(n) < cfg.stall_prob
    dwell = dwell + stalls * rng.exponential(cfg.stall_mean, size=n)
    dwell = np.maximum(1, np.round(dwell)).astype(np.int64)
    ref_to_signal = np.concatenate([[0], np.cumsum(dwell)])
    levels = means + rng.normal(0.0, 1.0, size=n) * stdvs * cfg.level_jitter
    pa = np.repeat(levels, dwell)
    total = pa.size
    # The motor moves in two half-steps per base: each part of a base sits on its own
    # sub-level, which gives the within-base variance and correlation real reads show.
    first = np.floor(rng.random(n) * (dwell + 1)).astype(np.int64)
    halves = np.stack([first, dwell - first], axis=1).ravel()
    pa = pa + np.repeat(rng.normal(0.0, cfg.sublevel_sd, size=2 * n), halves)
    innovations = rng.standard_t(cfg.noise_df, size=total) / np.sqrt(cfg.noise_df / (cfg.noise_df - 2))
    noise = lfilter([cfg.noise_sd * np.sqrt(1 - cfg.noise_phi**2)], [1.0, -cfg.noise_phi], innovations)
    pa = pa + noise + _ar1(total, cfg.wander_sd, cfg.wander_phi, rng)
    scale = float(1.0 + rng.normal(0.0, cfg.scale_sd))
    shift = float(rng.normal(0.0, cfg.shift_sd))
    pa = pa * scale + shift
    offset = float(rng.integers(-10, 30))
    raw = np.clip(np.round(pa * cfg.digitisation / cfg.range - offset), -32768, 32767).astype(np.int16)
    read_id = read_id or str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | int(rng.integers(0, 2**63))))
    read = Read(
        read_id=read_id,
        signal=raw,
        offset=offset,
        range=cfg.range,
        digitisation=cfg.digitisation,
        sample_rate=cfg.sample_rate,
        reference=truth,
        ref_to_signal=ref_to_signal,
    )
    params = {
        "read_id": read_id,
        "bases": n,
        "samples": int(total),
        "speed_factor": round(speed, 5),
        "drift_log_sd": round(float(log_drift.std()), 5),
        "samples_per_base": round(total / n, 4),
        "scale": round(scale, 5),
        "shift_pa": round(shift, 4),
    }
    return SimulatedRead(read, params)


def sample_fragments(genome: dict[str, str], n_reads: int, cfg: SimConfig, rng: np.random.Generator, k: int = 6):
    """Random fragments (with k-mer context margin) from random contigs and strands."""
    names = list(genome)
    sizes = np.array([len(genome[n]) for n in names], dtype=np.float64)
    for _ in range(n_reads):
        name = names[rng.choice(len(names), p=sizes / sizes.sum())]
        contig = genome[name]
        length = int(max(cfg.min_length, rng.gamma(4.0, cfg.mean_length / 4.0))) + k - 1
        length = min(length, len(contig))
        start = int(rng.integers(0, len(contig) - length + 1))
        frag = contig[start : start + length]
        strand = "+" if rng.random() < 0.5 else "-"
        yield name, start, strand, (frag if strand == "+" else reverse_complement(frag))


def simulate_genome(genome: dict[str, str], n_reads: int, model: PoreModel, cfg: SimConfig, seed: int):
    rng = np.random.default_rng(seed)
    for name, start, strand, frag in sample_fragments(genome, n_reads, cfg, rng, model.k):
        sim = simulate_read(frag, model, cfg, rng)
        sim.params.update({"contig": name, "start": start, "strand": strand})
        yield sim


def config_dict(cfg: SimConfig) -> dict:
    return asdict(cfg)


def write_pod5(path: Path, reads: list[Read]) -> None:
    """Write reads as POD5 (pA = (raw + offset) · range / digitisation)."""
    import pod5

    run_info = pod5.RunInfo(
        acquisition_id="rubicon-simulator",
        acquisition_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc),
        adc_max=4095,
        adc_min=-4096,
        context_tags={"sample_frequency": "4000", "experiment_type": "genomic_dna"},
        experiment_name="rubicon-simulate",
        flow_cell_id="SIM000",
        flow_cell_product_code="FLO-MIN106",
        protocol_name="rubicon-simulate",
        protocol_run_id="rubicon-simulate",
        protocol_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc),
        sample_id="simulated",
        sample_rate=int(reads[0].sample_rate) if reads else 4000,
        sequencing_kit="SQK-LSK109",
        sequencer_position="SIM",
        sequencer_position_type="simulator",
        software="rubicon-flow",
        system_name="rubicon",
        system_type="simulator",
        tracking_id={},
    )
    with pod5.Writer(path) as writer:
        for number, read in enumerate(reads):
            writer.add_read(
                pod5.Read(
                    read_id=uuid.UUID(read.read_id),
                    pore=pod5.Pore(channel=1 + number % 512, well=1, pore_type="sim"),
                    calibration=pod5.Calibration(offset=read.offset, scale=read.range / read.digitisation),
                    read_number=number,
                    start_sample=0,
                    median_before=200.0,
                    end_reason=pod5.EndReason(reason=pod5.EndReasonEnum.SIGNAL_POSITIVE, forced=False),
                    run_info=run_info,
                    signal=read.signal,
                )
            )


def write_mapped_signal(path: Path, reads: list[Read]) -> None:
    """Write labelled reads in the Taiyaki mapped-signal layout (read by `flow.data.readers`)."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs.update({"alphabet": "ACGT", "collapse_alphabet": "ACGT", "mod_long_names": "", "version": 8})
        group = f.create_group("Reads")
        lut = {b: i for i, b in enumerate("ACGT")}
        for read in reads:
            g = group.create_group(read.read_id)
            g.attrs.update({"digitisation": read.digitisation, "offset": read.offset, "range": read.range,
                            "read_id": read.read_id, "sample_rate": read.sample_rate})
            g.create_dataset("Dacs", data=read.signal, compression="gzip")
            g.create_dataset("Reference", data=np.array([lut[b] for b in read.reference], dtype=np.int16), compression="gzip")
            g.create_dataset("Ref_to_signal", data=read.ref_to_signal.astype(np.int32), compression="gzip")
