"""Calibration: correction factors for the cost model, fitted on measured figures (DESIGN §4.6, §7).

Folding, reports and the search all read the same per-op estimates (`flow/hw`); measured numbers
(cycle simulation always, Verilator/Yosys where an RTL twin exists, Vitis HLS/Vivado reports when
present; parsers in `flow.hw.vendor_reports`) correct them per op type and metric, per target,
and per implementation style where one was measured: a factor is looked up under
`<op type>[<style>]` (the op class's `style_key` of the node's estimate parameters, e.g.
`MVAU[dsp,search]`), else under the op type, else it is 1. The characterisation sweep
(`flow.sim.characterise`) fits both levels from Yosys over the grid folding explores.

A record pairs one node's *raw* (uncalibrated) estimate with a measurement::

    {"node": "MVAU_0", "op_type": "MVAU", "source": "vivado", "style": "lut,search",  # style optional
     "estimate": {"cycles": 33600, "lut": 4800, ...}, "measured": {"lut": 5391, ...}}

The factor of (op_type, metric), and of (op_type[style], metric) for records that name a style,
is the geometric mean of measured/estimate over its records:
errors of a cost model are multiplicative, and the geometric mean weighs a 2x over- and a 2x
under-estimate alike. Pairs where either side is missing, zero or not finite are skipped (a
ratio to or of zero carries no scale). Fit on raw estimates only, or factors compound.
The characterisation sweep fits LUT and FF as factor·estimate + offset where leave-one-out says
it predicts better (the formulas' constant terms dominate small nodes; see `fit_factors`).

File `targets/<target>.calibration.yaml`, or `calibration.yaml` in a build directory (read from
any path; written only to those two places); no file means every factor is 1.0. Schema, version 1::

    version: 1                    # required, int
    target: pynq-z2               # target name, or null
    factors:                      # required mapping; may be empty
      MVAU:                       # op type, or op type[style] (e.g. MVAU[dsp,search])
        lut:                      # metric: one of cycles, lut, ff, bram18, uram, dsp
          factor: 1.1231          # required, finite > 0: measured ~= factor * estimate + offset
          offset: -120.5          # optional, finite (default 0; LUT/FF fits of the characterisation sweep)
          samples: 6              # required, int >= 1: records the factor was fitted on
          sources: [vivado]       # required, non-empty list of cyclesim|verilator|yosys|vitis_hls|vivado
          error_before: 0.1093    # optional, >= 0: mean |estimate - measured| / measured
          error_after: 0.0121     # optional, >= 0: the same with the factor applied
"""
import math
import os
import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from flow.errors import FlowError
from flow.hw.targets import NAME, TARGETS_DIR, available_targets
from flow.hw.vendor_reports import find_instance, measured_metrics

METRICS = ("cycles", "lut", "ff", "bram18", "uram", "dsp")
SOURCES = ("cyclesim", "verilator", "yosys", "vitis_hls", "vivado")
VERSION = 1
BUILD_MANIFEST = "manifest.json"  # what makes a folder a build directory (flow/build/manifest.py)
FACTOR_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[A-Za-z0-9_,=-]+\])?")  # op type, or op type[style]


def factor_key(op_type: str, style: str = "") -> str:
    """Where the factors of an op type in one implementation style are stored: `op[style]`, or `op`."""
    return f"{op_type}[{style}]" if style else op_type


@dataclass(frozen=True)
class Factor:
    factor: float
    samples: int
    sources: tuple[str, ...]
    error_before: float | None = None
    error_after: float | None = None
    offset: float = 0.0  # measured ~= factor * estimate + offset (0: a pure factor)

    def scale(self, value):
        """The calibrated figure; never below 0 once an offset is added (a plain product otherwise, so
        torch tensors pass through)."""
        if not self.offset:
            return value * self.factor
        out = value * self.factor + self.offset
        return max(0.0, out) if isinstance(out, int | float) else out


@dataclass
class Calibration:
    factors: dict[str, dict[str, Factor]] = field(default_factory=dict)
    target: str | None = None

    def lookup(self, op_type: str, metric: str, style: str = "") -> Factor | None:
        """The factor of the style if one was fitted, else the op type's, else None (meaning 1)."""
        own = self.factors.get(factor_key(op_type, style), {}).get(metric) if style else None
        return own or self.factors.get(op_type, {}).get(metric)

    def factor(self, op_type: str, metric: str, style: str = "") -> float:
        f = self.lookup(op_type, metric, style)
        return f.factor if f else 1.0

    def apply(self, op_type: str, estimate: dict, style: str = "") -> dict:
        """The estimate with each calibrated metric multiplied by its factor (the style's, else the op
        type's; a float then; plain multiplication, so torch tensors pass through for the
        differentiable cost model)."""
        out = {}
        for k, v in estimate.items():
            f = self.lookup(op_type, k, style) if v is not None and k in METRICS else None
            out[k] = f.scale(v) if f else v
        return out

    def merged(self, other: "Calibration") -> "Calibration":
        """These factors with `other`'s laid over them, per key and metric (a sweep's resource factors
        over a build's cycle factors: neither drops the other)."""
        factors = {k: dict(per) for k, per in self.factors.items()}
        for k, per in other.factors.items():
            factors.setdefault(k, {}).update(per)
        return Calibration(factors, other.target or self.target)


def _positive(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and x > 0 else None


def _check_records(records) -> list[dict]:
    records = list(records)
    for i, r in enumerate(records):
        what = f"calibration record {i} ({r.get('node', '?')!r})" if isinstance(r, dict) else f"calibration record {i}"
        if not isinstance(r, dict) or not all(k in r for k in ("node", "op_type", "estimate", "measured", "source")):
            raise FlowError(f"{what}: needs node, op_type, estimate, measured and source")
        if r["source"] not in SOURCES:
            raise FlowError(f"{what}: source {r['source']!r} is not one of {', '.join(SOURCES)}")
        if not isinstance(r["estimate"], dict) or not isinstance(r["measured"], dict):
            raise FlowError(f"{what}: estimate and measured must be dicts of metric -> number")
        if not FACTOR_KEY.fullmatch(factor_key(r["op_type"], r.get("style") or "")):
            raise FlowError(f"{what}: op type {r['op_type']!r} / style {r.get('style')!r} must be names "
                            "(letters, digits, _ , = -)")
    return records


def _groups(r: dict, by_style: bool) -> list[str]:
    """The factor keys a record counts for: its op type, and its style's key when it names one."""
    style = r.get("style") or ""
    return [r["op_type"]] + ([factor_key(r["op_type"], style)] if by_style and style else [])


def make_records(nodes: dict[str, tuple[str, dict]], measured: dict[str, dict], source: str) -> list[dict]:
    """Records for the nodes {name: (op_type, raw estimate)} that have a measurement; `measured`
    is a parser's per-module/instance dict (keys: node names, or instance paths ending in one)."""
    records = []
    for name, (op_type, estimate) in nodes.items():
        figures = find_instance(measured, name, source)
        if figures is not None:
            records.append({"node": name, "op_type": op_type, "estimate": dict(estimate),
                            "measured": measured_metrics(figures), "source": source})
    return _check_records(records)


OFFSET_METRICS = ("lut", "ff")  # counts with constant terms; BRAM and DSP stay pure factors (0 means none)
MIN_SELECT_SAMPLES = 3


def _fit(pairs: list[tuple[float, float]], affine: bool) -> tuple[float, float]:
    """(factor, offset) over (estimate, measured) pairs, both > 0: the geometric mean of the ratios, or
    with `affine` (3+ pairs, 2+ estimates) a·estimate + b by least squares of the relative error
    Σ((a·e + b − m)/m)², falling back to the factor where a ≤ 0."""
    geo = math.exp(sum(math.log(m / e) for e, m in pairs) / len(pairs))
    if not affine or len(pairs) < 3 or len({e for e, _ in pairs}) < 2:
        return geo, 0.0
    # normal equations of min Σ (a·x + b·y − 1)², x = e/m, y = 1/m
    sxx, sxy, syy = (sum(u * v for u, v in z) for z in ([(e / m, e / m) for e, m in pairs],
                                                         [(e / m, 1 / m) for e, m in pairs], [(1 / m, 1 / m) for e, m in pairs]))
    sx, sy = sum(e / m for e, m in pairs), sum(1 / m for e, m in pairs)
    det = sxx * syy - sxy * sxy
    if det <= 0:
        return geo, 0.0
    a, b = (sx * syy - sy * sxy) / det, (sy * sxx - sx * sxy) / det
    return (a, b) if a > 0 else (geo, 0.0)


def _loo_error(pairs, affine: bool) -> float:
    """Mean relative error predicting each pair from a fit on the others (leave-one-out)."""
    errs = []
    for k, (e, m) in enumerate(pairs):
        f, o = _fit(pairs[:k] + pairs[k + 1:], affine)
        errs.append(abs(max(0.0, f * e + o) - m) / m)
    return sum(errs) / len(errs)


def fit_factors(records, target: str | None = None, metrics=METRICS, offsets: bool = False,
                select: bool = False) -> Calibration:
    """Factors per (op_type, metric), and per (op_type[style], metric) for records naming a style,
    with their errors on the same records (see module docstring).

    `offsets`: LUT and FF get factor·estimate + offset where that fits (constant terms of the
    formulas, e.g. FINN's 300-LUT sliding-window constant, dominate small nodes; the measured ones
    have none). `select`: keep, per key and metric, the candidate (none, factor, factor + offset)
    with the least leave-one-out relative error over the records, where none is the raw estimate
    for an op type and the op type's calibration for a style; keys with under 3 records are left
    out (nothing to check them on)."""
    records = _check_records(records)
    pairs, sources = defaultdict(list), defaultdict(set)
    for r in records:
        for m in metrics:
            est, meas = _positive(r["estimate"].get(m)), _positive(r["measured"].get(m))
            if est and meas:
                for key in _groups(r, True):
                    pairs[key, m].append((est, meas))
                    sources[key, m].add(r["source"])
    cal = Calibration(target=target)
    for (key, m), ps in sorted(pairs.items(), key=lambda kv: ("[" in kv[0][0], kv[0])):  # op types before styles
        candidates = [False, True] if offsets and m in OFFSET_METRICS else [False]
        if select:
            if len(ps) < MIN_SELECT_SAMPLES:
                continue
            base = cal.lookup(key.split("[")[0], m) if "[" in key else None
            none = sum(abs((base.scale(e) if base else e) - meas) / meas for e, meas in ps) / len(ps)
            scores = [(_loo_error(ps, affine), i + 1, affine) for i, affine in enumerate(candidates)]
            best = min(scores + [(none, 0, None)])
            if best[2] is None:
                continue
            candidates = [best[2]]
        f, o = _fit(ps, candidates[-1])
        cal.factors.setdefault(key, {})[m] = Factor(float(f"{f:.6g}"), len(ps), tuple(sorted(sources[key, m])),  # 6 digits:
                                                    offset=float(f"{o:.6g}"))                                # readable YAML
    before, after = estimate_error(records, by_style=True), estimate_error(records, cal, by_style=True)
    for key, per in cal.factors.items():
        for m, f in per.items():
            per[m] = Factor(f.factor, f.samples, f.sources, round(before[key][m], 6), round(after[key][m], 6), f.offset)
    return cal


def _relative_errors(records, calibration: Calibration | None, by_style: bool) -> dict[tuple[str, str], list[float]]:
    errs = defaultdict(list)
    for r in _check_records(records):
        style = r.get("style") or ""
        est = calibration.apply(r["op_type"], r["estimate"], style) if calibration else r["estimate"]
        for m in METRICS:
            meas = _positive(r["measured"].get(m))
            try:
                e = float(est.get(m))
            except (TypeError, ValueError):
                continue
            if meas and math.isfinite(e):
                for key in _groups(r, by_style):
                    errs[key, m].append(abs(e - meas) / meas)
    return errs


def estimate_error(records, calibration: Calibration | None = None, by_style: bool = False) -> dict[str, dict[str, float]]:
    """Mean |estimate - measured| / measured per op type and metric (estimates calibrated first
    if given; with `by_style`, also per op_type[style]); records whose measurement is missing or
    zero are left out."""
    out: dict[str, dict[str, float]] = {}
    for (key, m), errs in sorted(_relative_errors(records, calibration, by_style).items()):
        out.setdefault(key, {})[m] = sum(errs) / len(errs)
    return out


def sample_counts(records, by_style: bool = False) -> dict[str, dict[str, int]]:
    """How many records `estimate_error` averages per key and metric."""
    out: dict[str, dict[str, int]] = {}
    for (key, m), errs in sorted(_relative_errors(records, None, by_style).items()):
        out.setdefault(key, {})[m] = len(errs)
    return out


# ---------------------------------------------------------------- file

def calibration_path(target_name_or_path) -> Path:
    """`targets/<name>.calibration.yaml` for a target name; a path (has a `/` or a .yaml suffix) as is."""
    return _resolve(target_name_or_path)[0]


def _resolve(x) -> tuple[Path, str | None]:
    s = str(x)
    if isinstance(x, Path) or "/" in s or s.endswith((".yaml", ".yml")):
        return Path(x), None
    if not (NAME.fullmatch(s) and (TARGETS_DIR / f"{s}.yaml").is_file()):
        raise FlowError(f"unknown target {s!r}; available: {', '.join(available_targets())}")
    return TARGETS_DIR / f"{s}.calibration.yaml", s


def _check_write_place(path: Path) -> None:
    """Calibration is written only as `targets/*.calibration.yaml` or as a build directory's
    calibration file (a build directory holds the manifest), never over any other file."""
    folder = path.resolve().parent
    named = path.name.endswith(".calibration.yaml") or path.name == "calibration.yaml"
    if named and (folder == TARGETS_DIR.resolve() or (folder / BUILD_MANIFEST).is_file()):
        return
    raise FlowError(f"{path}: calibration is written only to {TARGETS_DIR}/<target>.calibration.yaml or to a build "
                    f"directory's calibration.yaml (a folder with {BUILD_MANIFEST}); choose one of those")


def load_calibration(target_name_or_path) -> Calibration:
    """The stored calibration; a missing file gives factors of 1.0 (nothing measured yet)."""
    path, target = _resolve(target_name_or_path)
    if not path.exists():
        return Calibration(target=target)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise FlowError(f"{path}: not valid YAML ({str(e).splitlines()[0]}); fix or delete it to recalibrate") from None
    return parse_calibration(data, path)


def parse_calibration(data, source="<dict>") -> Calibration:
    def bad(msg):
        raise FlowError(f"{source}: {msg} (schema in flow/hw/calibration.py; delete the file to recalibrate)")

    if not isinstance(data, dict) or data.get("version") != VERSION:
        bad(f"calibration file needs `version: {VERSION}`")
    if not isinstance(data.get("factors"), dict):
        bad("calibration file needs a `factors` mapping")
    target = data.get("target")
    if target is not None and not isinstance(target, str):
        bad("`target` must be a target name or null")
    cal = Calibration(target=target)
    for op, per in data["factors"].items():
        if not isinstance(op, str) or not FACTOR_KEY.fullmatch(op):
            bad(f"factors.{op}: a key is an op type or op type[style], e.g. MVAU or MVAU[dsp,search]")
        if not isinstance(per, dict):
            bad(f"factors.{op} must map metrics to factors")
        for m, e in per.items():
            where = f"factors.{op}.{m}"
            if m not in METRICS:
                bad(f"{where}: unknown metric (one of {', '.join(METRICS)})")
            if not isinstance(e, dict) or not {"factor", "samples", "sources"} <= set(e):
                bad(f"{where} needs factor, samples and sources")
            if isinstance(e["factor"], bool) or not _positive(e["factor"]):
                bad(f"{where}.factor must be a finite number > 0 (got {e['factor']!r})")
            if type(e["samples"]) is not int or e["samples"] < 1:
                bad(f"{where}.samples must be an integer >= 1")
            if not isinstance(e["sources"], list) or not e["sources"] or not set(e["sources"]) <= set(SOURCES):
                bad(f"{where}.sources must be a non-empty list of {', '.join(SOURCES)}")
            errs = [e.get(k) for k in ("error_before", "error_after")]
            if any(x is not None and (isinstance(x, bool) or not isinstance(x, int | float) or not x >= 0) for x in errs):
                bad(f"{where}: error_before/error_after must be numbers >= 0")
            offset = e.get("offset", 0.0)
            if isinstance(offset, bool) or not isinstance(offset, int | float) or not math.isfinite(offset):
                bad(f"{where}.offset must be a finite number (got {offset!r})")
            cal.factors.setdefault(str(op), {})[m] = Factor(float(e["factor"]), e["samples"], tuple(e["sources"]),
                                                            *(None if x is None else float(x) for x in errs), float(offset))
    return cal


def save_calibration(cal: Calibration, path) -> Path:
    """Write atomically (temp file + rename): an interrupted run leaves the old file or none."""
    path, target = _resolve(path)
    _check_write_place(path)
    factors = {op: {m: {"factor": f.factor, **({"offset": f.offset} if f.offset else {}), "samples": f.samples,
                        "sources": list(f.sources),
                        **({"error_before": f.error_before} if f.error_before is not None else {}),
                        **({"error_after": f.error_after} if f.error_after is not None else {})}
                    for m, f in per.items()} for op, per in cal.factors.items()}
    text = ("# Cost-model correction factors: measured ~= factor * estimate + offset. Written by flow.hw.calibration.\n"
            + yaml.safe_dump({"version": VERSION, "target": cal.target or target, "factors": factors}, sort_keys=False))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
