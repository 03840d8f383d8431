"""Calibration: correction factors for the cost model, fitted on measured figures (DESIGN §4.6, §7).

Folding, reports and the search all read the same per-op estimates (`flow/hw`); measured numbers
(cycle simulation always, Verilator/Yosys where an RTL twin exists, Vitis HLS/Vivado reports when
present; parsers in `flow.hw.vendor_reports`) correct them per op type and metric, per target.

A record pairs one node's *raw* (uncalibrated) estimate with a measurement::

    {"node": "MVAU_0", "op_type": "MVAU", "source": "vivado",
     "estimate": {"cycles": 33600, "lut": 4800, ...}, "measured": {"lut": 5391, ...}}

The factor of (op_type, metric) is the geometric mean of measured/estimate over its records:
errors of a cost model are multiplicative, and the geometric mean weighs a 2x over- and a 2x
under-estimate alike. Pairs where either side is missing, zero or not finite are skipped (a
ratio to or of zero carries no scale). Fit on raw estimates only, or factors compound.

File `targets/<target>.calibration.yaml`, or `calibration.yaml` in a build directory (read from
any path; written only to those two places); no file means every factor is 1.0. Schema, version 1::

    version: 1                    # required, int
    target: pynq-z2               # target name, or null
    factors:                      # required mapping; may be empty
      MVAU:                       # op type
        lut:                      # metric: one of cycles, lut, ff, bram18, uram, dsp
          factor: 1.1231          # required, finite > 0: measured ~= factor * estimate
          samples: 6              # required, int >= 1: records the factor was fitted on
          sources: [vivado]       # required, non-empty list of cyclesim|verilator|yosys|vitis_hls|vivado
          error_before: 0.1093    # optional, >= 0: mean |estimate - measured| / measured
          error_after: 0.0121     # optional, >= 0: the same with the factor applied
"""
import math
import os
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


@dataclass(frozen=True)
class Factor:
    factor: float
    samples: int
    sources: tuple[str, ...]
    error_before: float | None = None
    error_after: float | None = None


@dataclass
class Calibration:
    factors: dict[str, dict[str, Factor]] = field(default_factory=dict)
    target: str | None = None

    def factor(self, op_type: str, metric: str) -> float:
        f = self.factors.get(op_type, {}).get(metric)
        return f.factor if f else 1.0

    def apply(self, op_type: str, estimate: dict) -> dict:
        """The estimate with each calibrated metric multiplied by its factor (a float then; plain
        multiplication, so torch tensors pass through for the differentiable cost model)."""
        own = self.factors.get(op_type, {})
        return {k: v * own[k].factor if k in own and v is not None else v for k, v in estimate.items()}


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
    return records


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


def fit_factors(records, target: str | None = None) -> Calibration:
    """Factors per (op_type, metric) from records (see module docstring), with their errors."""
    records = _check_records(records)
    logs, sources = defaultdict(list), defaultdict(set)
    for r in records:
        for m in METRICS:
            est, meas = _positive(r["estimate"].get(m)), _positive(r["measured"].get(m))
            if est and meas:
                logs[r["op_type"], m].append(math.log(meas / est))
                sources[r["op_type"], m].add(r["source"])
    cal = Calibration(target=target)
    for (op, m), ls in sorted(logs.items()):
        f = float(f"{math.exp(sum(ls) / len(ls)):.6g}")  # 6 digits: readable YAML, same value in memory
        cal.factors.setdefault(op, {})[m] = Factor(f, len(ls), tuple(sorted(sources[op, m])))
    before, after = estimate_error(records), estimate_error(records, cal)
    for op, per in cal.factors.items():
        for m, f in per.items():
            per[m] = Factor(f.factor, f.samples, f.sources, round(before[op][m], 6), round(after[op][m], 6))
    return cal


def estimate_error(records, calibration: Calibration | None = None) -> dict[str, dict[str, float]]:
    """Mean |estimate - measured| / measured per op type and metric (estimates calibrated first
    if given); records whose measurement is missing or zero are left out."""
    sums = defaultdict(list)
    for r in _check_records(records):
        est = calibration.apply(r["op_type"], r["estimate"]) if calibration else r["estimate"]
        for m in METRICS:
            meas = _positive(r["measured"].get(m))
            try:
                e = float(est.get(m))
            except (TypeError, ValueError):
                continue
            if meas and math.isfinite(e):
                sums[r["op_type"], m].append(abs(e - meas) / meas)
    out: dict[str, dict[str, float]] = {}
    for (op, m), errs in sorted(sums.items()):
        out.setdefault(op, {})[m] = sum(errs) / len(errs)
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
            cal.factors.setdefault(str(op), {})[m] = Factor(float(e["factor"]), e["samples"], tuple(e["sources"]),
                                                            *(None if x is None else float(x) for x in errs))
    return cal


def save_calibration(cal: Calibration, path) -> Path:
    """Write atomically (temp file + rename): an interrupted run leaves the old file or none."""
    path, target = _resolve(path)
    _check_write_place(path)
    factors = {op: {m: {"factor": f.factor, "samples": f.samples, "sources": list(f.sources),
                        **({"error_before": f.error_before} if f.error_before is not None else {}),
                        **({"error_after": f.error_after} if f.error_after is not None else {})}
                    for m, f in per.items()} for op, per in cal.factors.items()}
    text = ("# Cost-model correction factors: measured ~= factor * estimate. Written by flow.hw.calibration.\n"
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
