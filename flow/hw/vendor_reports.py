"""Measured figures from tool reports, as plain dicts for calibration (DESIGN §7).

Every parser returns the cost model's resource names -- `lut`, `ff`, `bram18`, `uram`, `dsp`
(one BRAM36 counts as two BRAM18) -- and, where the tool measures time, `latency_cycles` and
`interval_cycles` (Vitis HLS) or `cycles` (simulation). A truncated file, or one that lacks a
figure, raises one FlowError naming the file and what is missing: a half-finished tool run must
never feed calibration with zeros.

Verilator cycle format (our convention, printed by every RTL testbench): exactly one line
`cycles=<n>`, `<n>` a decimal count of clock cycles from the first input beat to the last output
beat, e.g. `$display("cycles=%0d", n);` or `std::printf("cycles=%llu\\n", n);`. Other lines are
ignored, so the whole simulation log can be parsed.
"""
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from flow.errors import FlowError

RESOURCES = ("lut", "ff", "bram18", "uram", "dsp")


def measured_metrics(figures: dict) -> dict:
    """A parser's figures as calibration metrics (`cycles` + resources), unknown values dropped.

    HLS latency is what the cost model's per-node `cycles` estimates (one chunk through the node).
    """
    out = {k: figures[k] for k in RESOURCES if figures.get(k) is not None}
    cycles = figures.get("cycles", figures.get("latency_cycles"))
    if cycles is not None:
        out["cycles"] = cycles
    return out


# ---------------------------------------------------------------- Vitis HLS csynth.xml

_LATENCY = "PerformanceEstimates/SummaryOfOverallLatency/"


def parse_csynth(path) -> dict:
    """One Vitis (or Vivado) HLS `csynth.xml`; a variable latency (`undef`) is None."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise FlowError(f"{path}: not well-formed XML ({e}); truncated HLS report?") from None
    except OSError as e:
        raise FlowError(f"{path}: cannot read HLS report ({e.strerror})") from None

    def text(node, xpath, what=None):
        el = node.find(xpath)
        if el is None or not (el.text or "").strip():
            raise FlowError(f"{path}: HLS report misses {what or xpath}")
        return el.text.strip()

    res = root.find("AreaEstimates/Resources")
    if res is None:
        raise FlowError(f"{path}: HLS report misses AreaEstimates/Resources")
    dsp = next((el.tag for el in res if el.tag.startswith("DSP")), None)
    if dsp is None:
        raise FlowError(f"{path}: HLS report misses AreaEstimates/Resources/DSP")
    out = {"latency_cycles": _cycles(path, text(root, _LATENCY + "Worst-caseLatency")),
           "interval_cycles": _cycles(path, text(root, _LATENCY + "Interval-max"))}
    for key, tag in (("lut", "LUT"), ("ff", "FF"), ("bram18", "BRAM_18K"), ("dsp", dsp)):
        out[key] = _number(path, text(res, tag, f"AreaEstimates/Resources/{tag}"), tag)
    out["uram"] = _number(path, res.findtext("URAM", "0").strip(), "URAM")  # absent on 7-series
    return out


def parse_csynth_dir(directory) -> dict[str, dict]:
    """Every report of one HLS solution, keyed by module (`<module>_csynth.xml`; the top's
    `csynth.xml` under its TopModelName). Accepts the report folder or the solution folder."""
    directory = Path(directory)
    if (directory / "syn" / "report").is_dir():
        directory = directory / "syn" / "report"
    out = {}
    top = directory / "csynth.xml"
    if top.exists():
        figures = parse_csynth(top)
        out[(ET.parse(top).getroot().findtext("UserAssignments/TopModelName") or "csynth").strip()] = figures
    for f in sorted(directory.glob("*_csynth.xml")):
        out[f.name[: -len("_csynth.xml")]] = parse_csynth(f)
    if not out:
        raise FlowError(f"{directory}: no csynth.xml or <module>_csynth.xml reports (run HLS synthesis first)")
    return out


def _cycles(path, s):
    if s in ("undef", "-", "?"):
        return None
    if not s.isdigit():
        raise FlowError(f"{path}: HLS latency {s!r} is not a cycle count")
    return int(s)


# ---------------------------------------------------------------- Vivado report_utilization

def _tables(path, text):
    """(header cells, data rows) of every `+---+` bordered table; a table cut off is an error."""
    block = []
    for line in text.splitlines() + [""]:
        s = line.strip()
        if s.startswith("+") or (block and s.startswith("|")):  # `| Tool Version :` headers are no tables
            block.append(line.rstrip())
            continue
        if block:
            rows = [r for r in block if r.lstrip().startswith("|")]
            closed = block[-1].lstrip().startswith("+") and len(block) >= 3  # an empty table has 3 lines
            if not closed or not all(r.endswith("|") for r in rows):
                raise FlowError(f"{path}: a utilization table is cut off after {rows[-1].strip()[:60]!r} "
                                "(truncated report)" if rows else f"{path}: a utilization table is cut off")
            cells = [[c for c in r.strip()[1:-1].split("|")] for r in rows]
            yield [c.strip() for c in cells[0]], cells[1:]
            block = []


def _number(path, s, what):
    s = s.strip().lstrip("<")
    try:
        v = float(s)
    except ValueError:
        raise FlowError(f"{path}: {what} is {s!r}, not a number") from None
    return int(v) if v.is_integer() else v


def parse_vivado_utilization(path) -> dict:
    """Flat `report_utilization` (7-series Slice* rows or UltraScale CLB* rows)."""
    path = Path(path)
    text = _read(path)
    site = {}
    for header, rows in _tables(path, text):
        if "Site Type" in header and "Used" in header:
            col = header.index("Used")
            for cells in rows:
                site.setdefault(cells[0].strip().rstrip("*").strip(), cells[col])

    def first(*names):
        for n in names:
            if n in site:
                return _number(path, site[n], n)
        raise FlowError(f"{path}: Vivado utilization report has no {' / '.join(repr(n) for n in names)} row "
                        "(truncated, hierarchical, or not a report_utilization file?)")

    out = {"lut": first("Slice LUTs", "CLB LUTs"),
           "ff": first("Register as Flip Flop", "Slice Registers", "CLB Registers")}
    if "Block RAM Tile" in site:  # tiles come in halves (24.5): one RAMB18 is half a tile
        out["bram18"] = round(2 * _number(path, site["Block RAM Tile"], "Block RAM Tile"))
    else:
        out["bram18"] = 2 * first("RAMB36/FIFO") + first("RAMB18")
    out["dsp"] = first("DSPs")
    out["uram"] = _number(path, site["URAM"], "URAM") if "URAM" in site else 0
    return out


def parse_vivado_hierarchical(path) -> dict[str, dict]:
    """`report_utilization -hierarchical`: figures per instance, keyed by its path from the top
    (`top/inst/sub`, from the table's indentation); see `find_instance` for a lookup by name."""
    path = Path(path)
    out = {}
    for header, rows in _tables(path, _read(path)):
        if "Instance" not in header or "Total LUTs" not in header:
            continue
        col = {h: i for i, h in enumerate(header)}
        need = ["Total LUTs", "FFs", "RAMB36", "RAMB18"]
        dsp = next((h for h in header if h.startswith("DSP")), None)
        missing = [h for h in need if h not in col] + ([] if dsp else ["DSP Blocks"])
        if missing:
            raise FlowError(f"{path}: hierarchical utilization table has no {', '.join(missing)} column")
        stack: list[tuple[int, str]] = []
        for cells in rows:
            raw = cells[col["Instance"]]
            name, indent = raw.strip(), len(raw) - len(raw.lstrip())
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, name))
            num = lambda h: _number(path, cells[col[h]], f"{name} {h}")  # noqa: E731
            out["/".join(n for _, n in stack)] = {
                "lut": num("Total LUTs"), "ff": num("FFs"), "bram18": 2 * num("RAMB36") + num("RAMB18"),
                "uram": num("URAM") if "URAM" in col else 0, "dsp": num(dsp)}
    if not out:
        raise FlowError(f"{path}: no 'Utilization by Hierarchy' table (not a report_utilization -hierarchical file?)")
    return out


def find_instance(figures: dict[str, dict], name: str, source="report") -> dict | None:
    """The entry whose path is `name` or ends in `/name`; None if absent, an error if ambiguous."""
    hits = [k for k in figures if k == name or k.endswith("/" + name)]
    if len(hits) > 1:
        raise FlowError(f"{source}: instance {name!r} is ambiguous ({', '.join(hits)}); give its path")
    return figures[hits[0]] if hits else None


# ---------------------------------------------------------------- Yosys stat

# LUT6 sites a distributed-RAM or shift-register cell occupies (UG474/UG574 primitives Yosys maps to)
LUT_MEMORY_SITES = {"RAM32X1S": 1, "RAM32X1D": 2, "RAM64X1S": 1, "RAM64X1D": 2, "RAM128X1S": 2, "RAM128X1D": 4,
                    "RAM256X1S": 4, "RAM256X1D": 8, "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8,
                    "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1}


def _yosys_figures(types: dict) -> dict:
    n = lambda *names: sum(int(types.get(t, 0)) for t in names)  # noqa: E731
    return {"lut": n(*(f"LUT{i}" for i in range(1, 7))),
            "lut_memory": sum(int(types.get(t, 0)) * k for t, k in LUT_MEMORY_SITES.items()),
            "ff": n("FDRE", "FDSE", "FDCE", "FDPE"),
            "bram18": n("RAMB18E1", "RAMB18E2") + 2 * n("RAMB36E1", "RAMB36E2"),
            "uram": n("URAM288"), "dsp": n("DSP48E1", "DSP48E2")}


_SECTION = re.compile(r"^=== (.+) ===\s*$")
_CELLS = re.compile(r"^\s*Number of cells:\s*(\d+)\s*$")
_TYPE = re.compile(r"^\s+([A-Za-z_$\\][\w$\\.]*)\s+(\d+)\s*$")


def parse_yosys_stat(path, module: str | None = None) -> dict:
    """Yosys `stat` after `synth_xilinx`, text or `stat -json`: design totals (the `design
    hierarchy` section), or one module's own cells if `module` is given or it is the only one.
    Text is the classic `Number of cells:` layout (checked against Yosys 0.23); a whole log may be
    given, its last statistics count. LUTRAM/SRL cells are not counted as LUT (LUT1..LUT6 only) but
    as `lut_memory`, the LUT6 sites they occupy."""
    path = Path(path)
    text = _read(path)
    if text.lstrip().startswith("{"):
        return _yosys_json(path, text, module)
    text = text.rsplit("Printing statistics.", 1)[-1]  # a whole log: the last stat wins
    sections: dict[str, dict] = {}
    name = types = None
    for line in text.splitlines():
        if m := _SECTION.match(line):
            name, types = m.group(1).strip().lstrip("\\"), None
            sections[name] = {"total": None, "types": {}}
        elif name and (m := _CELLS.match(line)):
            sections[name]["total"], types = int(m.group(1)), sections[name]["types"]
        elif types is not None and (m := _TYPE.match(line)):
            types[m.group(1)] = int(m.group(2))
        elif types is not None:
            types = None  # the cell list ends at the first other line
    for sec_name, sec in sections.items():  # the per-type counts must add up: a cut list does not
        if sec["total"] is None:
            raise FlowError(f"{path}: Yosys stat section {sec_name!r} has no 'Number of cells' (truncated output?)")
        if sum(sec["types"].values()) != sec["total"]:
            raise FlowError(f"{path}: Yosys stat section {sec_name!r} lists {sum(sec['types'].values())} cells "
                            f"but counts {sec['total']} (truncated output?)")
    return _yosys_figures(_pick(path, {k: v["types"] for k, v in sections.items()}, "design hierarchy", module))


def _yosys_json(path, text, module):
    try:
        data = json.loads(text)
        mods = {k.lstrip("\\"): v["num_cells_by_type"] for k, v in data["modules"].items()}
        if "design" in data:
            mods["design hierarchy"] = data["design"]["num_cells_by_type"]
    except json.JSONDecodeError as e:
        raise FlowError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); truncated `stat -json` output?") from None
    except (KeyError, TypeError, AttributeError) as e:
        raise FlowError(f"{path}: `stat -json` output misses {e}") from None
    return _yosys_figures(_pick(path, mods, "design hierarchy", module))


def _pick(path, sections, total_key, module):
    if module is not None:
        if module not in sections:
            raise FlowError(f"{path}: no module {module!r} in Yosys stat (has {', '.join(sections)})")
        return sections[module]
    if total_key in sections:
        return sections[total_key]
    if len(sections) == 1:
        return next(iter(sections.values()))
    raise FlowError(f"{path}: Yosys stat has modules {', '.join(sections) or 'none'} and no design total; "
                    "run `stat -top <top>` or name the module")


# ---------------------------------------------------------------- Verilator cycle count

_CYCLE_LINE = re.compile(r"^\s*cycles=(\d+)\s*$")


def parse_verilator_cycles(path) -> dict:
    """The one `cycles=<n>` line of a simulation log (format in the module docstring)."""
    path = Path(path)
    counts = [int(m.group(1)) for line in _read(path).splitlines() if (m := _CYCLE_LINE.match(line))]
    if len(counts) != 1:
        raise FlowError(f"{path}: expected one 'cycles=<n>' line from the testbench, found {len(counts)}"
                        + (" (simulation did not finish?)" if not counts else ""))
    return {"cycles": counts[0]}


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as e:
        raise FlowError(f"{path}: cannot read report ({e.strerror})") from None
