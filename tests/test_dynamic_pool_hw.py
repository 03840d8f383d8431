"""The DynamicPool kernel (hls/dynamic_pool.h) and its RTL twin (hls/rtl/dynamic_pool.sv) against
the integer reference `dynamic_pool_int`: every output element, count and overflow on 1,000+
random chunks (random T including 1, C, PE, formats, tables, data with extremes) and the named
edge cases; cycle counts of the C++ kernel, the RTL under Verilator and the cycle model equal.

All configs share one C++ build and one Verilator build (both cached under build/tests/); the
vectors and logs go to a temporary folder.
"""
import shutil
import time
from dataclasses import replace

import numpy as np
import pytest

from flow.hw.vendor_reports import parse_verilator_cycles, parse_yosys_stat
from flow.numerics.dynamic_pool import DynamicPoolFormat, build_luts, choose_format, lut_index, requant_thresholds
from flow.paths import REPO_ROOT
from flow.sim.rtl import PoolConfig, build_verilator, run_cpp, run_verilator, write_configs, yosys_synth

BUILD = REPO_ROOT / "build" / "tests" / "dynamic_pool_hw"
N_RANDOM_CONFIGS, CHUNKS_PER_CONFIG = 20, 51  # 1,020 random chunks


def _random_data(rng, n: int, t: int, c: int, fmt: DynamicPoolFormat, pred_bits: int):
    """Features and (a, b): uniform, with some chunks at the extremes (all-max features, a and b
    at the accumulator's limits) and the rest sprinkled with maximum values."""
    fmax, lo, hi = (1 << fmt.feature_bits) - 1, -(1 << (pred_bits - 1)), (1 << (pred_bits - 1)) - 1
    feats = rng.integers(0, fmax + 1, (n, t, c))
    feats[rng.random((n, t, c)) < 0.1] = fmax
    scale = rng.choice([1 << (fmt.lut_bits + fmt.b_shift), hi + 1], size=(n, 1, 1))  # LUT range or full range
    ab = np.clip(rng.integers(-scale, scale, (n, t, 2)), lo, hi)
    ab[rng.random((n, t, 2)) < 0.05] = hi
    ab[rng.random((n, t, 2)) < 0.05] = lo
    if n > 2:
        feats[0], ab[0] = fmax, hi       # maximum features, largest weight and move
        ab[1, :, 0], ab[1, :, 1] = hi, lo  # maximum weight, smallest move
    return feats, ab


def _accumulators(cfg: PoolConfig) -> np.ndarray:
    """The saturated accumulators [N, Lmax, C] before requantization (to place thresholds where the
    data is, so that the outputs spread over all levels)."""
    f = cfg.fmt
    w = cfg.luts[0][lut_index(cfg.ab[..., 0], f.lut_bits, f.a_shift)]
    m = cfg.luts[1][lut_index(cfg.ab[..., 1], f.lut_bits, f.b_shift)]
    pos = np.minimum(np.cumsum(m, axis=1), f.pos_cap)
    j, phi = pos >> f.move_frac_bits, pos & ((1 << f.move_frac_bits) - 1)
    wf = w[..., None] * cfg.features
    n = np.broadcast_to(np.arange(len(j))[:, None], j.shape)
    acc = np.zeros((len(j), f.lmax + 2, cfg.channels), dtype=np.int64)
    np.add.at(acc, (n, j), (wf * ((1 << f.move_frac_bits) - phi)[..., None]) >> f.prod_shift)
    np.add.at(acc, (n, j + 1), (wf * phi[..., None]) >> f.prod_shift)
    return np.minimum(acc[:, :f.lmax], f.acc_max)


def _thresholds(rng, cfg: PoolConfig, requant: bool) -> np.ndarray:
    """[C, 2^out_bits − 1] ≥ 1 spread over the accumulators that occur: requant_thresholds with
    the output scale that maps the 90th percentile to the top level, or per-channel random
    picks from the occurring values (some past acc_max: never reached)."""
    f = cfg.fmt
    acc = _accumulators(cfg)
    seen = np.unique(acc[acc > 0])
    if seen.size == 0:
        seen = np.array([1])
    if requant:
        k = f.out_max / max(1.0, float(np.percentile(seen, 90)))
        thr = requant_thresholds(f, 1.0, 2.0 ** -(f.weight_frac_bits + f.move_frac_bits - f.prod_shift) / k)
        return np.broadcast_to(thr, (cfg.channels, f.out_max)).copy()
    pool = np.concatenate([seen, [1, f.acc_max, f.acc_max + 1]])
    return np.sort(rng.choice(pool, (cfg.channels, f.out_max)), axis=1)


def _random_format(rng, t: int) -> tuple[DynamicPoolFormat, np.ndarray, bool, int]:
    """(format, tables, requantization-style thresholds?, predictor bits): half from choose_format
    (tables from build_luts), half drawn directly (any widths, random tables, small accumulators)."""
    pred_bits = int(rng.integers(6, 21))
    if rng.random() < 0.5:
        acc_scale = tuple(float(s) for s in 10.0 ** rng.uniform(-3, -0.5, 2))
        move_scale = float(rng.uniform(0.2, 3.5))
        bound = tuple(int(b) for b in rng.integers(1, 1 << (pred_bits - 1), 2))
        fmt = choose_format(t_in=t, feature_bits=int(rng.integers(1, 9)), out_bits=int(rng.integers(1, 5)),
                            acc_scale=acc_scale, acc_bound=bound, move_scale=move_scale,
                            lmax=None if rng.random() < 0.3 else int(rng.integers(1, max(2, t))),
                            lut_bits=int(rng.integers(2, 9)), weight_frac_bits=int(rng.integers(2, 11)),
                            move_frac_bits=int(rng.integers(2, 11)))
        luts = build_luts(fmt, acc_scale, move_scale)
        if rng.random() < 0.5:
            fmt = replace(fmt, acc_bits=max(1, fmt.acc_bits - int(rng.integers(0, 6))))  # force saturation
        return fmt, luts, True, pred_bits
    f = int(rng.integers(1, 11))
    fmt = DynamicPoolFormat(lmax=int(rng.integers(1, 25)), feature_bits=int(rng.integers(1, 9)),
                            lut_bits=int(rng.integers(1, 9)), a_shift=int(rng.integers(0, 7)),
                            b_shift=int(rng.integers(0, 7)), weight_frac_bits=int(rng.integers(1, 11)),
                            move_frac_bits=f, move_int_bits=int(rng.integers(0, 4)),
                            prod_shift=int(rng.integers(0, f + 4)), acc_bits=int(rng.integers(1, 25)),
                            out_bits=int(rng.integers(1, 5)))
    k = fmt.lut_size
    luts = np.stack([rng.integers(0, fmt.weight_max + 1, k), rng.integers(0, fmt.move_max + 1, k)])
    luts[0, rng.random(k) < 0.2] = fmt.weight_max
    luts[1, rng.random(k) < 0.1] = fmt.move_max
    luts[1, rng.random(k) < 0.1] = 0
    return fmt, luts, False, pred_bits


def random_configs(seed: int = 7) -> list[tuple[str, PoolConfig]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(N_RANDOM_CONFIGS):
        t = 1 if i % 7 == 0 else int(rng.integers(2, 41))
        c = int(rng.integers(1, 9))
        pe = int(rng.choice([d for d in range(1, c + 1) if c % d == 0]))
        fmt, luts, requant, pred_bits = _random_format(rng, t)
        feats, ab = _random_data(rng, CHUNKS_PER_CONFIG, t, c, fmt, pred_bits)
        cfg = PoolConfig(fmt, c, pe, pred_bits, luts, np.ones((c, fmt.out_max), dtype=np.int64), feats, ab)
        cfg.thresholds = _thresholds(rng, cfg, requant)
        out.append((f"random{i}", cfg))
    return out


def edge_configs(seed: int = 11) -> list[tuple[str, PoolConfig]]:
    rng = np.random.default_rng(seed)
    base = DynamicPoolFormat(lmax=8, feature_bits=4, lut_bits=4, a_shift=1, b_shift=1, weight_frac_bits=6,
                             move_frac_bits=4, move_int_bits=2, prod_shift=4, acc_bits=14, out_bits=3)

    def config(fmt, c, pe, t, m_lut, w_lut=None, n=12, feats=None):
        w_lut = rng.integers(0, fmt.weight_max + 1, fmt.lut_size) if w_lut is None else w_lut
        f, ab = _random_data(rng, n, t, c, fmt, 12)
        cfg = PoolConfig(fmt, c, pe, 12, np.stack([w_lut, np.asarray(m_lut)]).astype(np.int64),
                         np.ones((c, fmt.out_max), dtype=np.int64),
                         f if feats is None else np.broadcast_to(feats, f.shape).copy(), ab)
        cfg.thresholds = _thresholds(rng, cfg, requant=False)
        return cfg

    k, one = base.lut_size, 1 << base.move_frac_bits
    return [
        # every move 0: all inputs in frame 0, count 2
        ("zero_moves", config(base, 4, 2, 9, np.zeros(k))),
        # moves between 1 and 3.9 frames: frames skipped (emitted as zeros), Lmax reached
        ("skipping_moves", config(replace(base, lmax=40), 6, 3, 10, rng.integers(one, base.move_max + 1, k))),
        # moves of exactly 2 frames and larger: every other frame empty
        ("exact_skips", config(replace(base, lmax=24), 2, 1, 7, np.full(k, 2 * one))),
        # overflow: positions pass Lmax early and saturate at the cap, later inputs are dropped
        ("overflow", config(replace(base, lmax=3), 3, 1, 16, rng.integers(one // 2, base.move_max + 1, k))),
        # maximum features, weights and moves; narrow accumulators saturate
        ("max_values", config(replace(base, acc_bits=9), 4, 4, 12, np.full(k, base.move_max),
                              w_lut=np.full(k, base.weight_max), feats=(1 << base.feature_bits) - 1)),
        # T = 1, Lmax = 1 (count and overflow from the single input), and T = 1 with a wide window
        ("t1_lmax1", config(replace(base, lmax=1), 5, 5, 1, rng.integers(0, base.move_max + 1, k), n=20)),
        ("t1", config(replace(base, lmax=6), 2, 1, 1, rng.integers(0, base.move_max + 1, k), n=20)),
    ]


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    return tmp_path_factory.mktemp("dynamic_pool_hw")


@pytest.fixture(scope="module")
def configs(vectors):
    named = random_configs() + edge_configs()
    write_configs([c for _, c in named], vectors)
    return named


@pytest.fixture(scope="module")
def cpp_results(configs, vectors):
    t0 = time.time()
    res, log = run_cpp([c for _, c in configs], vectors, BUILD)
    print(f"C++ kernel test: {time.time() - t0:.1f} s (compile + run)")
    (vectors / "cpp.log").write_text(log)
    return res


def test_vectors_cover_the_cases(configs):
    random = [c for name, c in configs if name.startswith("random")]
    assert sum(c.features.shape[0] for c in random) >= 1000
    assert any(c.t_in == 1 for c in random) and len({c.t_in for c in random}) > 5
    assert len({(c.channels, c.pe) for c in random}) > 4 and len({c.fmt for c in random}) == len(random)
    edges = dict(configs)
    _, count, overflow = edges["zero_moves"].golden()
    assert (count == 2).all() and not overflow.any()
    frames, count, overflow = edges["overflow"].golden()
    assert overflow.all() and (count == 3).all()
    frames, _, _ = edges["exact_skips"].golden()
    assert (frames[:, 1:-1:2] == 0).all() and frames[:, 2:-1:2].any()  # odd frames skipped
    frames, _, _ = edges["max_values"].golden()
    assert (frames == edges["max_values"].fmt.out_max).any()
    all_over = np.concatenate([c.golden()[2] for c in random])
    assert 0 < all_over.sum() < len(all_over)  # random chunks both overflow and fit


def test_cpp_kernel_bit_exact_and_cycle_model(configs, cpp_results, vectors):
    for i, (name, cfg) in enumerate(configs):
        r = cpp_results[i]
        assert r["errors"] == 0, f"{name}: {r['errors']} mismatches (see {vectors / 'cpp.log'})"
        model = cfg.model_cycles()
        assert r["cycles"] == model.tolist(), name
        assert r["stream_cycles"] == 1 + int((model - 1).sum()), name


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator is not installed")
def test_rtl_twin_bit_exact_and_cycles_equal_the_cpp_kernel(configs, cpp_results, vectors):
    t0 = time.time()
    exe = build_verilator([c for _, c in configs], BUILD)
    t1 = time.time()
    for i, (name, cfg) in enumerate(configs):
        log = vectors / f"rtl_cfg{i}.log"
        r = run_verilator(exe, i, vectors, log)
        assert r["errors"] == 0, f"{name}: RTL mismatches (see {log})"
        assert r["cycles"] == cpp_results[i]["cycles"], name
        assert parse_verilator_cycles(log)["cycles"] == r["stream_cycles"] == cpp_results[i]["stream_cycles"], name
    print(f"Verilator: build {t1 - t0:.1f} s, {len(configs)} configs run in {time.time() - t1:.1f} s")


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys is not installed")
def test_rtl_twin_synthesizes_with_yosys(configs, vectors):
    i = next(i for i, (name, _) in enumerate(configs) if name == "skipping_moves")
    cfg = configs[i][1]
    figures = parse_yosys_stat(yosys_synth(i, cfg, vectors))
    print(f"yosys synth_xilinx (C={cfg.channels}, PE={cfg.pe}, Lmax={cfg.fmt.lmax}, acc {cfg.fmt.acc_bits} bits, "
          f"{cfg.levels} thresholds per channel): {figures}")
    assert figures["lut"] > 0 and figures["ff"] > 0
