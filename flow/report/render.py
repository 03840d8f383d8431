"""Render a build's report.json as a Markdown page with PNG plots.

`render_report(report, out_dir)` writes into `out_dir`:

- `report.md`: header, verification (C-sim / cycle-sim), throughput (vs MinION real time and
  vs one sample per clock), resources vs budget, estimate vs cycle-sim agreement, calibration
  error, per-node and FIFO tables, stage timings, vendor tools, artifacts; sections whose
  stage did not run say "not run".
- `resources.png` per-layer LUT/BRAM18/DSP with the cumulative share of the budget;
  `cycles.png` per-layer cycles per chunk, bottleneck marked, simulated busy cycles beside;
  `utilisation.png` LUT/FF/BRAM18/URAM/DSP % of budget with the headroom limit;
  `fifos.png` FIFO depths and high-water marks (only when the report lists FIFOs).

Output is deterministic (no timestamps, fixed figure sizes, no matplotlib version stamp) and
every file is written under a temporary name and renamed into place. matplotlib is driven
through its object API on the Agg canvas, so no global backend is switched.
"""
import io
import os
import secrets
from pathlib import Path

from flow.data.chunks import default_overlap, new_samples
from flow.report.schema import MINION_SAMPLES_PER_S, RESOURCES, validate_report

PLOTS = ("utilisation.png", "resources.png", "cycles.png", "fifos.png")
LABEL = {"lut": "LUT", "ff": "FF", "bram18": "BRAM18", "uram": "URAM", "dsp": "DSP", "cycles": "cycles"}
DPI = 100
COLOURS = {"node": "#4c72b0", "bottleneck": "#c44e52", "sim": "#55a868", "cal": "#8172b2", "limit": "#dd8452"}


# ---------------------------------------------------------------- formatting

def _num(v, digits: int = 4) -> str:
    """A number for a table: thousands separators for large values, a few significant digits otherwise."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "**no**"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 1:
            text = f"{v:,.{max(digits - len(str(int(abs(v)))), 0)}f}"
            return text.rstrip("0").rstrip(".") if "." in text else text
        return f"{v:.{digits}g}"
    return str(v)


def _si(v) -> str:
    """1.23 M style, for the throughput figures next to the exact value."""
    if v is None:
        return ""
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f" ({v / scale:.3g} {unit})"
    return ""


def _pct(part, whole) -> str:
    if part is None or whole is None:
        return "—"
    if whole == 0:
        return "—" if part == 0 else "∞ (none on part)"
    return f"{100 * part / whole:.1f}%"


def _frac(v) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def _table(header: list[str], rows: list[list]) -> list[str]:
    def cell(x):
        return (x if isinstance(x, str) else _num(x)).replace("|", "\\|").replace("\n", " ")

    return (["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
            + ["| " + " | ".join(cell(x) for x in r) + " |" for r in rows])


def _code(s) -> str:
    return "—" if s is None else f"`{s}`"


# ---------------------------------------------------------------- files

def _write_atomic(path: Path, data: bytes) -> None:
    """Write under a hidden temporary name beside `path`, then rename over it (mode 0666 & ~umask)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _save(fig, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    _write_atomic(path, buf.getvalue())


def _figure(width: float, height: float, rows: int = 1, **kw):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, 1, squeeze=False, **kw)[:, 0]
    return fig, axes


def _style():
    import matplotlib
    import matplotlib.style

    # the same look whatever the user's matplotlibrc says
    return matplotlib.style.context("default")


def _thousands(axis) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 1 or v == 0 else f"{v:g}"))


def _tick_size(n: int) -> float:
    return 9 if n <= 20 else 8 if n <= 40 else 6 if n <= 80 else 4


# ---------------------------------------------------------------- derived figures

def _usage(entry: dict | None, key: str) -> dict:
    return dict((entry or {}).get(key) or {})


def _node_res(node: dict, r: str) -> float:
    return float(_usage(node, "estimate").get(r) or 0)


def _bottleneck(report: dict) -> str | None:
    est = report["estimate"]
    name = est.get("bottleneck") or (report.get("folding") or {}).get("bottleneck")
    if name is None and report["nodes"]:
        name = max(report["nodes"], key=lambda n: _node_res(n, "cycles"))["name"]
    return name


def _sim_chunks(report: dict) -> int:
    return int((report.get("cyclesim") or {}).get("chunks") or 1)


def _throughput(report: dict) -> dict:
    """The throughput section with every derivable figure filled in."""
    t = dict(report.get("throughput") or {})
    clock_hz = report["clock_mhz"] * 1e6
    if "chunks_per_s" not in t:
        cycles = (report.get("cyclesim") or {}).get("cycles_per_chunk") or report["estimate"]["cycles_per_chunk"]
        t["chunks_per_s"] = clock_hz / cycles if cycles else None
        t["derived"] = True
    if t.get("samples_per_s") is None and t["chunks_per_s"] is not None and report.get("chunk_len"):
        t["samples_per_s"] = t["chunks_per_s"] * report["chunk_len"]
    sps = t.get("samples_per_s")
    if t.get("effective_samples_per_s") is None and t["chunks_per_s"] is not None and report.get("chunk_len"):
        stride = int(report.get("stride") or 1)
        t.setdefault("overlap_samples", default_overlap(report["chunk_len"], stride))
        t["effective_samples_per_s"] = t["chunks_per_s"] * new_samples(report["chunk_len"], stride)
    eff = t.get("effective_samples_per_s")
    if t.get("bases_per_s") is None and eff is not None and t.get("bases_per_sample") is not None:
        t["bases_per_s"] = eff * t["bases_per_sample"]
    t.setdefault("minion_samples_per_s", MINION_SAMPLES_PER_S)
    t.setdefault("one_sample_per_clock_samples_per_s", clock_hz)
    if t.get("minion_fraction") is None and eff is not None:
        t["minion_fraction"] = eff / t["minion_samples_per_s"]
    if t.get("one_sample_per_clock_fraction") is None and sps is not None and t["one_sample_per_clock_samples_per_s"]:
        t["one_sample_per_clock_fraction"] = sps / t["one_sample_per_clock_samples_per_s"]
    return t


# ---------------------------------------------------------------- plots

def plot_utilisation(report: dict, path: Path) -> None:
    """Resource use as % of the budget, estimate and calibrated, with the headroom limit."""
    budget, est = report["budget"], report["estimate"]
    totals, cal = est["totals"], est.get("calibrated_totals")
    headroom = report.get("headroom")
    with _style():
        fig, (ax,) = _figure(8, 4)
        names = [LABEL[r] for r in RESOURCES]
        y = list(range(len(RESOURCES)))[::-1]
        h = 0.38 if cal else 0.6

        def share(values):
            out = []
            for r in RESOURCES:
                b, v = budget.get(r) or 0, values.get(r) or 0
                out.append(100 * v / b if b else (0.0 if not v else float("nan")))
            return out

        est_pct = share(totals)
        ax.barh([v + (h / 2 if cal else 0) for v in y], est_pct, height=h, color=COLOURS["node"], label="estimate")
        if cal:
            ax.barh([v - h / 2 for v in y], share(cal), height=h, color=COLOURS["cal"], label="calibrated")
        for yi, r, p in zip(y, RESOURCES, est_pct):
            b = budget.get(r) or 0
            text = (f"{100 * (totals.get(r) or 0) / b:.1f}% of {b:,}" if b else
                    ("none on part" if not totals.get(r) else "needs part without it"))
            ax.text(max(p if p == p else 0, 0) + 1, yi + (h / 2 if cal else 0), text, va="center", fontsize=8)
        ax.axvline(100, color="black", lw=1.2, label="budget (100%)")
        if headroom:
            ax.axvline(100 * (1 - headroom), color=COLOURS["limit"], ls="--", lw=1.2,
                       label=f"headroom limit ({100 * (1 - headroom):.0f}%)")
        ax.set_yticks(y, names)
        top = max([100.0] + [p for p in est_pct + (share(cal) if cal else []) if p == p])
        ax.set_xlim(0, top * 1.25)
        ax.set_xlabel("% of the part's resources")
        ax.set_title(f"Utilisation: {report['model']} on {report['target']} ({report['part']})")
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        _save(fig, path)


def plot_resources(report: dict, path: Path) -> None:
    """Per-layer LUT / BRAM18 / DSP (bars, left axis) and their running total as % of the budget (right)."""
    nodes, fifos, budget = report["nodes"], report.get("fifos") or [], report["budget"]
    headroom = report.get("headroom")
    labels = [n["name"] for n in nodes] + (["(all FIFOs)"] if fifos else [])
    x = list(range(len(labels)))
    with _style():
        fig, axes = _figure(14, 9, rows=3, sharex=True)
        for ax, r in zip(axes, ("lut", "bram18", "dsp")):
            values = [_node_res(n, r) for n in nodes]
            if fifos:
                values.append(sum(float(_usage(f, "estimate").get(r) or 0) for f in fifos))
            cal = [_usage(n, "calibrated").get(r) for n in nodes]
            ax.bar(x, values, color=[COLOURS["node"]] * len(nodes) + ["#999999"] * bool(fifos), label="estimate")
            if any(c is not None for c in cal):
                ax.plot([i for i, c in enumerate(cal) if c is not None], [c for c in cal if c is not None], "_",
                        color=COLOURS["cal"], ms=10, mew=2, label="calibrated")
            ax.set_ylabel(f"{LABEL[r]} per node")
            ax.set_ylim(0, max(max(values + [c or 0 for c in cal], default=0), 1) * 1.45)  # room for the legend
            _thousands(ax.yaxis)
            ax.grid(axis="y", alpha=0.3)
            b = budget.get(r) or 0
            ax2 = ax.twinx()
            running, total = [], 0.0
            for v in values:
                total += v
                running.append(100 * total / b if b else 0.0)
            ax2.step(x, running, where="mid", color="black", lw=1.2, label="cumulative % of budget")
            ax2.axhline(100, color="black", ls=":", lw=1)
            if headroom:
                ax2.axhline(100 * (1 - headroom), color=COLOURS["limit"], ls="--", lw=1,
                            label=f"headroom limit ({100 * (1 - headroom):.0f}%)")
            ax2.set_ylim(0, max(105.0, max(running, default=0) * 1.05))
            ax2.set_ylabel(f"cumulative % of {b:,} {LABEL[r]}" if b else "no budget", fontsize=8)
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = ax2.get_legend_handles_labels()
            ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=7, ncols=4)
        axes[-1].set_xticks(x, labels, rotation=90, fontsize=_tick_size(len(labels)))
        axes[0].set_title(f"Per-layer resources against the budget: {report['model']} on {report['target']}")
        _save(fig, path)


def plot_cycles(report: dict, path: Path) -> None:
    """Estimated cycles per chunk per layer (bottleneck in red), simulated busy cycles per chunk beside."""
    nodes = report["nodes"]
    bottleneck = _bottleneck(report)
    sim = [n.get("cyclesim") for n in nodes]
    has_sim = any(s for s in sim)
    chunks = _sim_chunks(report)
    x = list(range(len(nodes)))
    with _style():
        fig, axes = _figure(14, 9 if has_sim else 6, rows=2 if has_sim else 1,
                            **({"sharex": True, "height_ratios": (3, 2)} if has_sim else {}))
        ax = axes[0]
        w = 0.4 if has_sim else 0.8
        est = [_node_res(n, "cycles") for n in nodes]
        colours = [COLOURS["bottleneck"] if n["name"] == bottleneck else COLOURS["node"] for n in nodes]
        ax.bar([i - w / 2 if has_sim else i for i in x], est, width=w, color=colours, label="estimated cycles / chunk")
        if has_sim:
            busy = [(s or {}).get("busy", 0) / chunks for s in sim]
            ax.bar([i + w / 2 for i in x], busy, width=w, color=COLOURS["sim"],
                   label=f"simulated busy cycles / chunk (mean of {chunks})")
        cpc = report["estimate"]["cycles_per_chunk"]
        ax.axhline(cpc, color=COLOURS["bottleneck"], ls="--", lw=1, label=f"estimate: {cpc:,.0f} cycles/chunk")
        simulated = (report.get("cyclesim") or {}).get("cycles_per_chunk")
        if simulated is not None:
            ax.axhline(simulated, color=COLOURS["sim"], ls=":", lw=1.2,
                       label=f"cycle sim: {simulated:,.0f} cycles/chunk")
        if bottleneck in [n["name"] for n in nodes]:
            i = [n["name"] for n in nodes].index(bottleneck)
            ax.annotate("bottleneck", (x[i] - (w / 2 if has_sim else 0), est[i]), xytext=(0, 6),
                        textcoords="offset points", ha="center", fontsize=8, color=COLOURS["bottleneck"])
        ax.set_ylim(0, max(est + [cpc, simulated or 0]) * 1.3 or 1)
        ax.set_ylabel("cycles per chunk")
        _thousands(ax.yaxis)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper left", fontsize=8, ncols=2)
        ax.set_title(f"Per-layer cycles per chunk: {report['model']} on {report['target']} "
                     f"at {report['clock_mhz']:g} MHz (bottleneck {bottleneck})")
        if has_sim:
            ax = axes[1]
            bottom = [0.0] * len(nodes)
            for state, colour in (("busy", COLOURS["sim"]), ("starved", "#cccccc"), ("blocked", COLOURS["limit"])):
                share = []
                for s in sim:
                    s = s or {}
                    tot = sum(s.get(k, 0) for k in ("busy", "starved", "blocked"))
                    share.append(100 * s.get(state, 0) / tot if tot else 0.0)
                ax.bar(x, share, bottom=bottom, color=colour, label=state)
                bottom = [a + b for a, b in zip(bottom, share)]
            ax.set_ylim(0, 100)
            ax.set_ylabel("% of simulated cycles")
            ax.legend(loc="lower left", bbox_to_anchor=(0, 1), fontsize=8, ncols=3, frameon=False)
        axes[-1].set_xticks(x, [n["name"] for n in nodes], rotation=90, fontsize=_tick_size(len(nodes)))
        _save(fig, path)


def plot_fifos(report: dict, path: Path) -> None:
    """Depth of every FIFO as built and its high-water mark in the cycle simulation."""
    fifos = report["fifos"]
    x = list(range(len(fifos)))
    depth = [f["depth"] for f in fifos]
    high = [f.get("high_water") for f in fifos]
    with _style():
        fig, (ax,) = _figure(14, 6)
        ax.bar(x, depth, width=0.8, color="#b0c4de", label="depth (built)")
        if any(h is not None for h in high):
            ax.bar(x, [h or 0 for h in high], width=0.4, color=COLOURS["node"], label="high-water mark (cycle sim)")
        positive = [v for v in depth + [h or 0 for h in high] if v > 0]
        if positive and max(positive) / min(positive) > 50:
            ax.set_yscale("log")
            ax.set_ylim(0.8, max(positive) * 4)
        _thousands(ax.yaxis)
        ax.set_ylabel("beats")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
        ax.set_title(f"FIFO depths and high-water marks: {report['model']} on {report['target']}")
        ax.set_xticks(x, [f["name"] for f in fifos], rotation=90, fontsize=_tick_size(len(fifos)))
        _save(fig, path)


# ---------------------------------------------------------------- the page

def _header(report: dict) -> list[str]:
    fold = report.get("folding") or {}
    rows = [["model", _code(report["model"])], ["target", _code(report["target"])],
            ["board", report.get("board") or "—"], ["part", _code(report["part"])],
            ["clock", f"{_num(report['clock_mhz'])} MHz"]]
    if report.get("chunk_len") is not None:
        rows.append(["chunk", f"{_num(report['chunk_len'])} samples → {_num(report.get('frames_out'))} frames "
                              f"(stride {_num(report.get('stride'))}) × {_num(report.get('classes'))} classes"])
    if fold:
        target = fold.get("target")
        rows.append(["folding", f"`{fold.get('mode')}`" + (f", target {_num(target)}" if target is not None else "")])
    rows.append(["bottleneck", _code(_bottleneck(report))])
    limit = (fold or {}).get("limited_by")
    if limit:
        what = ", ".join(r.upper() for r in limit["resources"]) or "no budget: the bottleneck is at its fastest folding"
        rows.append(["limited by", f"{what} (the next faster folding, {_num(limit['next_cycles_per_chunk'])} "
                                   "cycles/chunk, does not fit)"])
    return [f"# Accelerator report: {report['model']} on {report['target']}", "",
            *_table(["", ""], rows), ""]


def _verification(report: dict) -> list[str]:
    out = ["## Verification", ""]
    rows = []
    for key, name in (("csim", "C-simulation"), ("cyclesim", "cycle simulation"),
                      ("rtlsim", "RTL co-simulation (Verilator, `rubicon rtlsim`)")):
        s = report.get(key)
        if s is None:
            rows.append([name, "not run", "—", "—", "—", "—"])
        else:
            rows.append([name, s["bit_exact"], s["elements_compared"], s["mismatches"], s.get("chunks"), s.get("seconds")])
    out += _table(["check", "bit-exact vs golden", "elements compared", "mismatches", "chunks", "time (s)"], rows)
    cs = report.get("cyclesim")
    if cs is not None:
        lat = cs["latency_cycles"]
        out += ["", f"Cycle simulation: first-chunk latency {_num(lat)} cycles "
                    f"({_num(lat / report['clock_mhz'])} µs at {_num(report['clock_mhz'])} MHz), steady state "
                    f"{_num(cs['cycles_per_chunk'])} cycles per chunk."]
    rs = report.get("rtlsim")
    if rs is not None:
        gap = rs.get("vs_cyclesim")
        out += ["", f"RTL co-simulation (every node's SystemVerilog twin, the build's FIFO depths): first-chunk latency "
                    f"{_num(rs['latency_cycles'])} cycles, {_num(rs['cycles_per_chunk'])} cycles per chunk"
                + ("" if gap is None else f", {100 * gap:+.2f}% against the C++ cycle simulation"
                   + ("" if abs(gap) <= 0.02 else " (**over 2%**)")) + "."]
    return out + [""]


def _throughput_section(report: dict) -> list[str]:
    t = _throughput(report)
    out = ["## Throughput", ""]
    if t.get("chunks_per_s") is None:
        return out + ["not available", ""]
    mhz = report["clock_mhz"]
    rows = [["chunks/s", f"{_num(t['chunks_per_s'])}{_si(t['chunks_per_s'])}"],
            ["samples/s (raw: every chunk sample)", f"{_num(t.get('samples_per_s'))}{_si(t.get('samples_per_s'))}"],
            [f"effective samples/s (new signal: {_num(t.get('overlap_samples'))} of each chunk's samples overlap the "
             "previous chunk)", f"{_num(t.get('effective_samples_per_s'))}{_si(t.get('effective_samples_per_s'))}"],
            ["bases/s", f"{_num(t.get('bases_per_s'))}{_si(t.get('bases_per_s'))}"],
            ["bases per sample", f"{_num(t.get('bases_per_sample'))}"
                                 + (f" (measured on {t['bases_per_sample_source']})" if t.get("bases_per_sample_source")
                                    else "")],
            [f"effective vs MinION real time ({_num(t['minion_samples_per_s'])} samples/s = 512 channels × 4 kHz)",
             "—" if t.get("minion_fraction") is None else f"{t['minion_fraction']:.3g}× ({_frac(t['minion_fraction'])})"],
            [f"vs one sample per clock ({_num(t['one_sample_per_clock_samples_per_s'])} samples/s at {_num(mhz)} MHz)",
             _frac(t.get("one_sample_per_clock_fraction"))]]
    out += _table(["figure", "value"], rows)
    if t.get("derived"):
        out += ["", "_Derived here from the clock and cycles per chunk: the report has no throughput section._"]
    elif report.get("cyclesim") is None:
        out += ["", "_From the cost-model estimate (no cycle simulation for this target)._"]
    return out + [""]


def _resources_section(report: dict) -> list[str]:
    budget, est = report["budget"], report["estimate"]
    totals, cal = est["totals"], est.get("calibrated_totals")
    headroom = report.get("headroom")
    header = ["resource", "budget"] + (["usable (1 − headroom)"] if headroom is not None else []) + \
             ["estimate", "% of budget"] + (["calibrated", "% of budget"] if cal else [])
    rows = []
    for r in RESOURCES:
        b = budget.get(r) or 0
        row = [LABEL[r], b] + ([round(b * (1 - headroom))] if headroom is not None else []) + \
              [totals.get(r), _pct(totals.get(r), b)]
        if cal:
            row += [cal.get(r), _pct(cal.get(r), b)]
        rows.append(row)
    synth = report.get("synth")
    if synth is not None:
        header += ["measured (Yosys)", "% of budget", "estimate / measured"]
        for r, row in zip(RESOURCES, rows):
            m, e = synth["totals"].get(r), totals.get(r)
            row += [m, _pct(m, budget.get(r) or 0), f"{e / m:.2f}" if m else "—"]
    out = ["## Resources", ""]
    if headroom is not None:
        out += [f"Headroom kept free by the folding: {_frac(headroom)} of every resource.", ""]
    out += _table(header, rows)
    if synth is not None:
        out += ["", f"Measured: Yosys `synth_xilinx -family {synth['family']}` of every node's "
                    f"RTL twin out of context ({synth['nodes']} nodes; `rubicon synth`), summed; LUT counts logic and "
                    f"LUTRAM/SRL sites. Yosys is not Vivado: its counts are a second, independent measure, not the "
                    f"placed design. {'Fits' if synth['fits'] else '**Does not fit**'} the board"
                + (f"; {len(synth['skipped'])} nodes not synthesised within the time budget." if synth["skipped"] else ".")]
    out += ["", "![Utilisation](utilisation.png)", "", "![Per-layer resources against the budget](resources.png)", ""]
    return out


def _agreement_section(report: dict) -> list[str]:
    out = ["## Cycles: estimate vs cycle simulation", ""]
    a = report.get("estimate_vs_cyclesim")
    cs = report.get("cyclesim")
    if a is None and cs is not None:
        e, s = report["estimate"]["cycles_per_chunk"], cs["cycles_per_chunk"]
        a = {"cycles_per_chunk_estimate": e, "cycles_per_chunk_simulated": s,
             "relative_error": (e - s) / s if s else None}
    if a is None:
        out += [f"Cycle simulation not run; estimated {_num(report['estimate']['cycles_per_chunk'])} cycles per chunk "
                f"(bottleneck {_code(_bottleneck(report))})."]
    else:
        err = a.get("relative_error")
        verdict = "—" if err is None else f"{100 * err:+.2f}% ({'within' if abs(err) <= 0.10 else '**outside**'} ±10%)"
        out += _table(["", "cycles per chunk"], [["estimate (cost model)", a["cycles_per_chunk_estimate"]],
                                                 ["cycle simulation (steady state)", a["cycles_per_chunk_simulated"]],
                                                 ["relative error (estimate − sim) / sim", verdict]])
    aie = report.get("aie")
    if aie is not None:
        out += ["", "### AI Engine (cost model)", ""]
        out += _table(["figure", "value"], [[k, v if not isinstance(v, (dict, list)) else _short(v)]
                                            for k, v in aie.items()])
    return out + ["", "![Per-layer cycles per chunk](cycles.png)", ""]


def _short(v) -> str:
    text = str(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _calibration_section(report: dict) -> list[str]:
    out = ["## Calibration", ""]
    cal = report.get("calibration")
    if cal is None:
        return out + ["not run", ""]
    out += [f"Calibration file: {_code(cal.get('file')) if cal.get('file') else 'none (every factor 1.0)'}.", ""]
    before, after = cal.get("error_before") or {}, cal.get("error_after") or {}
    order = {m: i for i, m in enumerate(("cycles",) + RESOURCES)}
    keys = sorted({(op, m) for src in (before, after) for op, ms in src.items() for m in ms},
                  key=lambda k: (k[0], order.get(k[1], len(order)), k[1]))
    if not keys:
        return out + ["No measured figures to compare yet.", ""]
    rows = [[f"`{op}`", LABEL.get(m, m), _frac(before.get(op, {}).get(m)), _frac(after.get(op, {}).get(m))]
            for op, m in keys]
    out += ["Mean relative error |estimate − measured| / measured, per op type and metric (cycles: the "
            "cycle simulation; resources: Yosys, before = the raw formula, after = the calibrated figure the "
            "folding used):", ""]
    return out + _table(["op type", "metric", "error before", "error after"], rows) + [""]


def _nodes_section(report: dict) -> list[str]:
    nodes, bottleneck = report["nodes"], _bottleneck(report)
    show_uram = bool(report["budget"].get("uram")) or any(_node_res(n, "uram") for n in nodes)
    has_cal = any(n.get("calibrated") for n in nodes)
    has_sim = any(n.get("cyclesim") for n in nodes)
    has_measured = any(n.get("measured") for n in nodes)
    chunks = _sim_chunks(report)
    header = ["#", "node", "op", "PE", "SIMD", "styles", "cycles / chunk"] + (["calibrated cycles"] if has_cal else []) + \
             ["LUT", "FF", "BRAM18"] + (["URAM"] if show_uram else []) + ["DSP"] + \
             (["Yosys LUT / FF / BRAM18 / DSP"] if has_measured else []) + \
             (["sim busy / chunk", "busy / starved / blocked"] if has_sim else [])
    rows = []
    for i, n in enumerate(nodes):
        e = _usage(n, "estimate")
        name = f"**{n['name']}** (bottleneck)" if n["name"] == bottleneck else n["name"]
        styles = " ".join(f"{k}={v}" for k, v in (n.get("styles") or {}).items()) or "—"
        row = [i, name, n["op_type"], n.get("PE"), n.get("SIMD"), styles, e.get("cycles")]
        if has_cal:
            row.append(_usage(n, "calibrated").get("cycles"))
        row += [e.get("lut"), e.get("ff"), e.get("bram18")] + ([e.get("uram")] if show_uram else []) + [e.get("dsp")]
        if has_measured:
            m = n.get("measured") or {}
            row.append(" / ".join(str(m.get(r, "—")) for r in ("lut", "ff", "bram18", "dsp")))
        if has_sim:
            s = n.get("cyclesim")
            if s:
                tot = sum(s.get(k, 0) for k in ("busy", "starved", "blocked")) or 1
                row += [s.get("busy", 0) / chunks,
                        " / ".join(f"{100 * s.get(k, 0) / tot:.0f}%" for k in ("busy", "starved", "blocked"))]
            else:
                row += ["—", "—"]
        rows.append(row)
    out = ["## Per node", "", f"{len(nodes)} nodes (FIFOs listed below). Cycles and resources are the raw "
                              "cost-model estimates for one chunk"
           + (f"; simulated counts are averaged over {chunks} chunks." if has_sim else ".")]
    return out + [""] + _table(header, rows) + [""]


def _fifos_section(report: dict) -> list[str]:
    out = ["## FIFOs", ""]
    fifos = report.get("fifos")
    if fifos is None:
        return out + ["not run (no FIFOs in this report)", ""]
    if not fifos:
        return out + ["no FIFOs", ""]
    rows = []
    for f in fifos:
        e = _usage(f, "estimate")
        rows.append([f"`{f['name']}`", f"{f.get('producer') or '—'} → {f.get('consumer') or '—'}", f.get("width_bits"),
                     f["depth"], f.get("high_water"), e.get("lut"), e.get("bram18")])
    total_depth = sum(f["depth"] for f in fifos)
    out += [f"{len(fifos)} FIFOs, {total_depth:,} beats in all; depths sized from the cycle simulation's high-water "
            "marks where it ran.", ""]
    return out + _table(["FIFO", "producer → consumer", "width (bits)", "depth", "high-water", "LUT", "BRAM18"], rows) \
        + ["", "![FIFO depths and high-water marks](fifos.png)", ""]


def _timing_section(report: dict) -> list[str]:
    out = ["## Stage timings", ""]
    t = report.get("timing_s")
    if not t:
        return out + ["not recorded", ""]
    rows = [[("**total**" if k == "total" else k), f"{v:.2f}"] for k, v in t.items() if k != "total"]
    if "total" in t:
        rows.append(["**total**", f"**{t['total']:.2f}**"])
    return out + _table(["stage", "seconds"], rows) + [""]


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += _flatten(v, key + ".")
        elif isinstance(v, list):
            out.append((key, f"{len(v)} entries"))
        else:
            out.append((key, v))
    return out


def _vendor_section(report: dict) -> list[str]:
    out = ["## Vendor tools", ""]
    v = report.get("vendor")
    if v is None:
        return out + ["not run", ""]
    if "skipped" in v:
        out += [f"Skipped: {v['skipped']}", ""]
    totals = report["estimate"]["totals"]
    tools = [(k, s) for k, s in v.items() if k != "skipped" and isinstance(s, dict)]
    for name, section in tools:
        out += [f"### {name}", ""]
        measured = [r for r in RESOURCES if isinstance(section.get(r), (int, float)) and not isinstance(section.get(r), bool)]
        if measured:
            out += _table(["resource", "measured", "estimate", "estimate error", "% of budget"],
                          [[LABEL[r], section[r], totals.get(r),
                            f"{100 * (totals[r] - section[r]) / section[r]:+.1f}%" if section[r] else "—",
                            _pct(section[r], report["budget"].get(r) or 0)] for r in measured]) + [""]
        rest = [(k, x) for k, x in _flatten(section) if k not in measured]
        if rest:
            out += _table(["figure", "value"], [[f"`{k}`", x if not isinstance(x, str) else _short(x)] for k, x in rest])
            out.append("")
    for k, s in v.items():
        if k != "skipped" and not isinstance(s, dict):
            out += [f"- `{k}`: {_short(s)}"]
    return out + ([""] if out[-1] != "" else [])


def _artifacts_section(report: dict, out_dir: Path, build_dir: Path) -> list[str]:
    out = ["## Artifacts", ""]
    a = report.get("artifacts")
    if not a:
        return out + ["none listed", ""]
    for name, rel in a.items():
        link = Path(os.path.relpath(build_dir / rel, out_dir)).as_posix()
        out.append(f"- {name}: [`{rel}`]({link})")
    return out + [""]


def render_markdown(report: dict, out_dir: Path, build_dir: Path | None = None, plots=PLOTS) -> str:
    out_dir = Path(out_dir)
    build_dir = Path(build_dir) if build_dir is not None else out_dir
    lines = _header(report) + _verification(report) + _throughput_section(report) + _resources_section(report) \
        + _agreement_section(report) + _calibration_section(report) + _nodes_section(report) + _fifos_section(report) \
        + _timing_section(report) + _vendor_section(report) + _artifacts_section(report, out_dir, build_dir)
    text = "\n".join(lines).rstrip() + "\n"
    for png in PLOTS:  # link only the plots that were drawn
        if png not in plots:
            text = "\n".join(l for l in text.split("\n") if f"]({png})" not in l)
    return text


def render_report(report: dict, out_dir: Path, build_dir: Path | None = None) -> Path:
    """Write report.md and the plots into `out_dir`; return the path of report.md.

    `build_dir` (default `out_dir`) is where the report's artifact paths are relative to, so that
    the page links them correctly when rendered elsewhere (e.g. `reports/<target>/<model>/`).
    """
    validate_report(report, "report")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    drawn = [("utilisation.png", plot_utilisation), ("resources.png", plot_resources), ("cycles.png", plot_cycles)]
    if report.get("fifos"):
        drawn.append(("fifos.png", plot_fifos))
    for name, plot in drawn:
        plot(report, out_dir / name)
    names = [n for n, _ in drawn]
    for stale in set(PLOTS) - set(names):  # a plot of an earlier render that no longer applies
        (out_dir / stale).unlink(missing_ok=True)
    md = out_dir / "report.md"
    _write_atomic(md, render_markdown(report, out_dir, build_dir, names).encode())
    return md
