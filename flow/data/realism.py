"""Signal statistics that say how real a (simulated) read looks.

The same functions run on the real mapped-signal sample and on simulator output, so the
two sets of figures are measured the same way.
"""
import numpy as np

from flow.data.read import Read


def signal_stats(reads: list[Read]) -> dict[str, float]:
    """Dwell, within-base noise and white-noise figures over labelled reads (pA units)."""
    dwells, per_base_sd, residuals, diffs = [], [], [], []
    lag_num = lag_den = 0.0
    for read in reads:
        pa = read.pa().astype(np.float64)
        r2s = read.ref_to_signal
        dwell = np.diff(r2s)
        dwells.append(dwell)
        diffs.append(np.diff(pa[r2s[0] : r2s[-1]]))
        for start, stop in zip(r2s[:-1], r2s[1:]):
            seg = pa[start:stop]
            if seg.size >= 3:
                res = seg - seg.mean()
                per_base_sd.append(res.std(ddof=1))
                residuals.append(res)
                lag_num += float(res[1:] @ res[:-1])
                lag_den += float(res @ res)
    dwell = np.concatenate(dwells)
    res = np.concatenate(residuals)
    diff = np.concatenate(diffs)
    return {
        "dwell_mean": float(dwell.mean()),
        "dwell_sd": float(dwell.std()),
        "dwell_median": float(np.median(dwell)),
        "dwell_q99": float(np.quantile(dwell, 0.99)),
        "within_base_sd_median": float(np.median(per_base_sd)),
        "within_base_sd_rms": float(np.sqrt(np.mean(res**2))),
        "within_base_kurtosis": float(np.mean(res**4) / np.mean(res**2) ** 2),
        "within_base_lag1": lag_num / lag_den,
        "white_noise_robust": float(1.4826 * np.median(np.abs(diff)) / np.sqrt(2)),
    }


def per_read_speed(reads: list[Read]) -> np.ndarray:
    """Samples per base of every read (its mean dwell): the speed spread across reads."""
    return np.array([(r.ref_to_signal[-1] - r.ref_to_signal[0]) / (len(r.ref_to_signal) - 1) for r in reads])
