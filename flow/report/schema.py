"""The schema of `<build>/report.json`, as data, and its validator.

One build writes one `report.json` (`rubicon build`); `rubicon report` renders it as a Markdown
page with plots (`flow.report.render`). The schema below is the single source of the field
list: `validate_report` checks a report against it and `schema_markdown` prints the tables of
`docs/report_schema.md` (a test keeps the two in step).

Rules:
- A field marked required must be present; an optional section that is absent means the stage
  did not run (e.g. no `csim` on a cost-model-only target) and is rendered as "not run".
- Unknown extra keys are allowed everywhere (newer writers may add figures).
- `number` accepts int or float (not bool, not NaN/inf); `int` accepts integers only (a float
  with an integral value such as `4.0` is accepted, JSON writers produce those).
- `A|null` means the value may be JSON null ("unknown").
"""
import math
from dataclasses import dataclass, field

from flow.errors import FlowError

SCHEMA_VERSION = 1
RESOURCES = ("lut", "ff", "bram18", "uram", "dsp")
METRICS = ("cycles",) + RESOURCES
MINION_SAMPLES_PER_S = 512 * 4000  # 512 channels x 4 kHz


@dataclass(frozen=True)
class Field:
    """One field. `type` is `int`, `number`, `string`, `bool`, `object` (fixed `fields`), `array`
    (of `items`) or `map` (any keys, each value a `values`), optionally `|null`."""

    type: str
    doc: str
    unit: str = ""
    required: bool = True
    fields: dict = field(default_factory=dict)
    items: "Field | None" = None
    values: "Field | None" = None
    key: str = "key"          # how a map's keys are named in the docs, e.g. "op_type"
    choices: tuple = ()
    minimum: float | None = None


def _res(what: str, required=("lut", "ff", "bram18", "uram", "dsp"), unit_type="number") -> dict:
    units = {"lut": "LUTs", "ff": "flip-flops", "bram18": "BRAM18 blocks (one BRAM36 = 2)",
             "uram": "URAM blocks", "dsp": "DSP slices"}
    return {r: Field(unit_type, f"{what}: {r.upper() if r != 'bram18' else 'BRAM18'}", units[r],
                     required=r in required, minimum=0) for r in RESOURCES}


def _opt(f: Field) -> Field:
    return Field(**{**f.__dict__, "required": False})


ESTIMATE = Field("object", "Cost-model estimate of this node for one chunk (raw, before calibration)", fields={
    "cycles": Field("number", "Clock cycles for one chunk through the node (FINN formulas)", "cycles", minimum=0),
    **_res("Estimated use"),
})
CALIBRATED = Field("object", "The same estimate with the target's calibration factors applied (absent: no calibration)",
                   required=False, fields={k: Field(**{**v.__dict__, "required": False, "doc": "Calibrated " + v.doc[0].lower()
                                                      + v.doc[1:]}) for k, v in ESTIMATE.fields.items()})

NODE = Field("object", "One dataflow node (compute nodes and data-width converters; FIFOs are under `fifos`)", fields={
    "name": Field("string", "Node name in the folded dataflow graph"),
    "op_type": Field("string", "Op type (MVAU, VVAU, ConvolutionInputGenerator1D, Thresholding, "
                               "StreamingDataWidthConverter, ...)"),
    "PE": Field("int|null", "Processing elements (output parallelism); null/absent for ops without PE",
                "lanes", required=False, minimum=1),
    "SIMD": Field("int|null", "Input lanes per PE; null/absent for ops without SIMD", "lanes", required=False, minimum=1),
    "styles": Field("object", "Implementation styles chosen by folding (resType, thresholdStyle, ramStyle, "
                              "TapsPerBeat), where the op has them", required=False),
    "in_width": Field("int", "Elements per input stream beat", "elements/beat", required=False, minimum=0),
    "out_width": Field("int", "Elements per output stream beat", "elements/beat", required=False, minimum=0),
    "estimate": ESTIMATE,
    "calibrated": CALIBRATED,
    "measured": Field("object", "Yosys synth_xilinx of the node's RTL twin out of context (`rubicon synth`; absent: "
                                "not run)", required=False, fields={
        **{k: _opt(v) for k, v in _res("Measured use").items()},
        "lut_memory": Field("int", "LUT6 sites used as distributed RAM or shift registers (not in `lut`)", "LUTs",
                            required=False, minimum=0),
    }),
    "cyclesim": Field("object", "Cycle-simulation state counts of this node, totals over the whole simulated run "
                                "(`cyclesim.chunks` chunks; divide by it for per-chunk figures)", required=False, fields={
        "busy": Field("int", "Cycles the node advanced (consumed and/or produced)", "cycles", minimum=0),
        "starved": Field("int", "Cycles stalled on an empty input stream", "cycles", minimum=0),
        "blocked": Field("int", "Cycles stalled on a full output stream", "cycles", minimum=0),
    }),
})

FIFO = Field("object", "One StreamingFIFO on a stream edge", fields={
    "name": Field("string", "Stream (FIFO) name"),
    "producer": Field("string|null", "Node writing into the FIFO (or the input adapter)", required=False),
    "consumer": Field("string|null", "Node reading from the FIFO (or the output adapter)", required=False),
    "depth": Field("int", "FIFO depth as built", "beats", minimum=0),
    "high_water": Field("int|null", "Highest occupancy seen in the cycle simulation (null: not simulated)", "beats",
                        required=False, minimum=0),
    "width_bits": Field("int", "Width of one beat", "bits", required=False, minimum=0),
    "estimate": Field("object", "Cost-model estimate of the FIFO", required=False,
                      fields={k: _opt(v) for k, v in _res("Estimated use").items()}),
    "measured": Field("object", "Yosys synth_xilinx of the FIFO's RTL twin at this depth (absent: not run)",
                      required=False, fields={k: _opt(v) for k, v in _res("Measured use").items()}),
})

VERIFY = {
    "bit_exact": Field("bool", "Every compared element equals the golden model's (`execute_onnx` on the same graph)"),
    "elements_compared": Field("int", "Output elements compared with the golden model", "elements", minimum=0),
    "mismatches": Field("int", "Elements that differ", "elements", minimum=0),
    "chunks": Field("int", "Chunks simulated", "chunks", required=False, minimum=0),
    "seconds": Field("number", "Wall time of the stage (compile + run + compare)", "s", required=False, minimum=0),
}

ERRORS = Field("map", "Mean relative error |estimate - measured| / measured per op type and metric", key="op_type",
               required=False, values=Field("map", "Per metric (cycles, lut, ff, bram18, uram, dsp)", key="metric",
                                            values=Field("number|null", "Relative error (0.1 = 10%)", "fraction",
                                                         minimum=0)))

SCHEMA = Field("object", "report.json", fields={
    "schema_version": Field("int", "Version of this schema",
                            choices=(SCHEMA_VERSION,)),
    "model": Field("string", "Model name (`models/<model>.yaml`)"),
    "target": Field("string", "Target name (`targets/<target>.yaml`)"),
    "board": Field("string", "Board name", required=False),
    "part": Field("string", "FPGA part number"),
    "clock_mhz": Field("number", "Target clock frequency", "MHz", minimum=0),
    "chunk_len": Field("int", "Input samples per chunk", "samples", required=False, minimum=1),
    "stride": Field("int", "Total downsampling of the network (input samples per output frame)", "samples/frame",
                    required=False, minimum=1),
    "frames_out": Field("int", "Output frames per chunk", "frames", required=False, minimum=0),
    "classes": Field("int", "Output classes per frame (CTC blank + bases)", "classes", required=False, minimum=1),
    "budget": Field("object", "Resources of the target part (the whole device; the folding keeps `headroom` free)",
                    fields=_res("Available", required=("lut", "ff", "bram18", "dsp"))),
    "headroom": Field("number", "Fraction of every budget kept free by `--fit` folding: usable = (1 - headroom) x budget",
                      "fraction", required=False, minimum=0),
    "folding": Field("object", "How the folding was chosen", required=False, fields={
        "mode": Field("string", "`fit` (highest throughput within the budget), `fps` (chunks/s target), `cycles` "
                                "(cycles/chunk target) or another throughput target such as `samples_per_s`"),
        "target": Field("number|null", "The throughput target in the unit of `mode` (null for `fit`)",
                        "chunks/s, cycles/chunk or samples/s", required=False),
        "bottleneck": Field("string|null", "Slowest node after folding", required=False),
        "cycles_per_chunk": Field("number", "Estimated cycles per chunk of the folded graph (slowest node)", "cycles",
                                  required=False, minimum=0),
        "limited_by": Field("object", "What stops a faster folding (fit mode)", required=False, fields={
            "next_cycles_per_chunk": Field("number", "The next faster cycle target that did not fit", "cycles",
                                           minimum=0),
            "resources": Field("array", "Resources whose budget alone, lifted, would let it fit (empty: the "
                                        "bottleneck node is at its fastest folding)", items=Field("string", "resource")),
        }),
    }),
    "nodes": Field("array", "Per-node folding, estimates and simulation counts, in graph order", items=NODE),
    "fifos": Field("array", "Every StreamingFIFO, in graph order (absent: FIFOs not inserted)", required=False,
                   items=FIFO),
    "estimate": Field("object", "Cost-model totals of the whole accelerator (nodes + FIFOs)", fields={
        "totals": Field("object", "Raw estimated totals", fields=_res("Total")),
        "calibrated_totals": Field("object", "Totals after calibration (absent: no calibration)", required=False,
                                   fields={k: _opt(v) for k, v in _res("Total").items()}),
        "cycles_per_chunk": Field("number", "Estimated cycles between chunks in steady state (slowest node)", "cycles",
                                  minimum=0),
        "bottleneck": Field("string|null", "Node with the most cycles per chunk"),
    }),
    "csim": Field("object", "C-simulation of the generated C++, compared with the golden model (absent: not run)",
                  required=False, fields=VERIFY),
    "cyclesim": Field("object", "Cycle-accurate simulation of the generated dataflow (absent: not run)",
                      required=False, fields={
        **VERIFY,
        "latency_cycles": Field("number", "First input beat of chunk 0 to its last output beat", "cycles", minimum=0),
        "cycles_per_chunk": Field("number", "Steady-state spacing of chunk completions", "cycles", minimum=0),
        "total_cycles": Field("int", "Cycles simulated in all", "cycles", required=False, minimum=0),
    }),
    "synth": Field("object", "Yosys synthesis of every node's RTL twin out of context (`rubicon synth`; absent: not "
                             "run)", required=False, fields={
        "family": Field("string", "synth_xilinx family (xc7: Zynq-7000; xcup: UltraScale+)"),
        "totals": Field("object", "Sum over the nodes and FIFOs (LUT counts logic LUTs plus `lut_memory`)",
                        fields=_res("Measured use")),
        "fits": Field("bool", "Every measured total within the target's budget (the whole device)"),
        "nodes": Field("int", "Nodes synthesised", "nodes", minimum=0),
        "skipped": Field("array", "Nodes not synthesised within the time budget", items=Field("string", "node")),
        "seconds": Field("number", "Wall time (cached nodes cost nothing)", "s", required=False, minimum=0),
        "calibration": Field("object", "Factors written by `rubicon synth --update-calibration`", required=False, fields={
            "file": Field("string", "The target's calibration file"),
            "factors": Field("array", "Op types and styles fitted from this build", items=Field("string", "key")),
            "nodes": Field("int", "Measured nodes fitted", "nodes", minimum=0),
        }),
    }),
    "rtlsim": Field("object", "Verilator co-simulation of the whole accelerator as RTL twins (hls/rtl/, `rubicon "
                              "rtlsim`), on the build's vectors (absent: not run)", required=False, fields={
        **VERIFY,
        "latency_cycles": Field("number", "First input beat of chunk 0 to its last output beat", "cycles", minimum=0),
        "cycles_per_chunk": Field("number", "Steady-state spacing of chunk completions", "cycles", minimum=0),
        "vs_cyclesim": Field("number|null", "(RTL - C++ cycle simulation) / C++ cycle simulation, cycles per chunk",
                             "fraction", required=False),
    }),
    "estimate_vs_cyclesim": Field("object", "Agreement of the cost model with the cycle simulation", required=False,
                                  fields={
        "cycles_per_chunk_estimate": Field("number", "Estimated cycles per chunk", "cycles", minimum=0),
        "cycles_per_chunk_simulated": Field("number", "Simulated steady-state cycles per chunk", "cycles", minimum=0),
        "relative_error": Field("number", "(estimate - simulated) / simulated; the acceptance bound is |error| <= 0.10",
                                "fraction"),
    }),
    "throughput": Field("object", "Throughput at the target clock", required=False, fields={
        "chunks_per_s": Field("number", "Chunks per second: f_clk / cycles_per_chunk (simulated if run, else estimated)",
                              "chunks/s", minimum=0),
        "samples_per_s": Field("number", "Raw signal samples per second: chunks_per_s x chunk_len", "samples/s",
                               minimum=0),
        "overlap_samples": Field("int", "Samples that neighbouring basecall chunks share (seen twice)",
                                 "samples", required=False, minimum=0),
        "effective_samples_per_s": Field("number", "New signal per second: chunks_per_s x (chunk_len - overlap_samples)",
                                         "samples/s", required=False, minimum=0),
        "bases_per_s": Field("number|null", "Bases called per second: effective_samples_per_s x bases_per_sample",
                             "bases/s", required=False, minimum=0),
        "bases_per_sample": Field("number|null", "Bases per input sample, measured on the model's own calls",
                                  "bases/sample", required=False, minimum=0),
        "bases_per_sample_source": Field("string|null", "Where bases_per_sample was measured (data set, file)",
                                         required=False),
        "minion_samples_per_s": Field("number", "MinION real time: 512 channels x 4 kHz = 2,048,000", "samples/s",
                                      required=False, minimum=0),
        "minion_fraction": Field("number", "effective_samples_per_s / minion_samples_per_s (1.0 = keeps up with a MinION)",
                                 "fraction", required=False, minimum=0),
        "one_sample_per_clock_samples_per_s": Field("number", "The bound of one sample per clock: f_clk", "samples/s",
                                                    required=False, minimum=0),
        "one_sample_per_clock_fraction": Field("number", "samples_per_s / one_sample_per_clock_samples_per_s",
                                               "fraction", required=False, minimum=0),
    }),
    "calibration": Field("object", "Calibration of the cost model for this target", required=False, fields={
        "file": Field("string|null", "Calibration file used (null: none, every factor 1.0)", required=False),
        "error_before": ERRORS,
        "error_after": Field(**{**ERRORS.__dict__, "doc": "The same error with the calibration factors applied"}),
    }),
    "timing_s": Field("map", "Wall time per build stage (export, lower, fold, codegen, csim, cyclesim, ..., total); "
                             "reused stages take ~0", "s", required=False, key="stage",
                      values=Field("number", "Seconds", "s", minimum=0)),
    "vendor": Field("object", "Vendor tool results: either `skipped` or one object per tool "
                              "(`vitis_hls`, `vivado`; figures as parsed by `flow.hw.vendor_reports`)",
                    required=False, fields={
        "skipped": Field("string", "Why the vendor tools did not run, and which Tcl to run where they exist",
                         required=False),
        "vitis_hls": Field("object", "Vitis HLS synthesis figures (lut, ff, bram18, uram, dsp, latency_cycles, "
                                     "interval_cycles, ...)", required=False),
        "vivado": Field("object", "Vivado utilisation/timing figures (lut, ff, bram18, uram, dsp, ...)",
                        required=False),
    }),
    "aie": Field("object", "AI Engine figures of a cost-model-only Versal target (the target's `aie` entry and/or "
                           "the AI Engine cost model's results; other keys such as `clock_mhz` pass through)",
                 required=False, fields={
        "tiles": Field("int", "AI Engine tiles (of the array, or used when the cost model reports it)", "tiles",
                       required=False, minimum=0),
        "cycles_per_chunk": Field("number", "AI Engine cycles per chunk", "AIE cycles", required=False, minimum=0),
    }),
    "artifacts": Field("map", "Generated files, relative to the build directory", required=False, key="name",
                       values=Field("string", "Path relative to the build directory")),
})

_TYPES = {
    "int": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
    "string": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "map": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}
_JSON_NAMES = {bool: "bool", int: "int", float: "number", str: "string", dict: "object", list: "array",
               type(None): "null"}


def _describe(v) -> str:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return _JSON_NAMES.get(type(v), type(v).__name__)


def _check(spec: Field, value, path: str, fail) -> None:
    kinds = spec.type.split("|")
    if not any(_TYPES[k](value) for k in kinds):
        fail(path, f"expected {spec.type.replace('|', ' or ')}, got {_describe(value)} ({_short(value)})")
    if value is None:
        return
    if spec.choices and value not in spec.choices:
        fail(path, f"must be one of {', '.join(map(str, spec.choices))} (got {_short(value)})")
    if spec.minimum is not None and isinstance(value, (int, float)) and value < spec.minimum:
        fail(path, f"must be >= {spec.minimum:g} (got {value})")
    if isinstance(value, dict) and spec.type.startswith("object"):
        for name, sub in spec.fields.items():
            where = f"{path}.{name}" if path else name
            if name not in value:
                if sub.required:
                    fail(where, "missing")
                continue
            _check(sub, value[name], where, fail)
    elif isinstance(value, dict) and spec.values is not None:
        for name, v in value.items():
            _check(spec.values, v, f"{path}.{name}", fail)
    elif isinstance(value, list) and spec.items is not None:
        for i, v in enumerate(value):
            _check(spec.items, v, f"{path}[{i}]", fail)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_report(data, source="report.json") -> None:
    """Raise a FlowError naming `source` and the first field that does not match the schema."""

    def fail(path, what):
        raise FlowError(f"{source}: field `{path}` {what}; not a report.json this version writes "
                        "(rebuild with `rubicon build`)")

    if not isinstance(data, dict):
        raise FlowError(f"{source}: expected a JSON object at the top level, got {_describe(data)}")
    _check(SCHEMA, data, "", fail)
    # cross-field: every node named once
    seen = set()
    for i, node in enumerate(data["nodes"]):
        if node["name"] in seen:
            fail(f"nodes[{i}].name", f"repeats node name {node['name']!r}")
        seen.add(node["name"])


# ---------------------------------------------------------------- documentation

def _rows(spec: Field, path: str):
    if spec.type.startswith("object"):
        for name, sub in spec.fields.items():
            p = f"{path}.{name}" if path else name
            yield p, sub
            yield from _rows(sub, p)
    elif spec.type.startswith("array") and spec.items is not None:
        yield from _rows(spec.items, f"{path}[]")
    elif spec.type.startswith("map") and spec.values is not None:
        p = f"{path}.<{spec.key}>"
        yield p, spec.values
        yield from _rows(spec.values, p)


def schema_markdown() -> str:
    """The field tables of docs/report_schema.md: one table per top-level section."""
    out = []
    top = [(name, sub) for name, sub in SCHEMA.fields.items()]
    scalars = [n for n, s in top if s.type.split("|")[0] not in ("object", "array", "map")]
    out += ["### Top level", "", "| field | type | required | unit | meaning |", "|---|---|---|---|---|"]
    out += [_row(n, SCHEMA.fields[n]) for n in scalars]
    for name, sub in top:
        if name in scalars:
            continue
        out += ["", f"### `{name}`{'' if sub.required else ' (optional)'}", "", sub.doc + ".", "",
                "| field | type | required | unit | meaning |", "|---|---|---|---|---|", _row(name, sub)]
        out += [_row(p, s) for p, s in _rows(sub, name)]
    return "\n".join(out) + "\n"


def _row(path: str, spec: Field) -> str:
    doc = spec.doc
    if spec.choices:
        doc += f" (one of {', '.join(map(str, spec.choices))})"
    kind = spec.type.replace("|", " or ")
    return f"| `{path}` | {kind} | {'yes' if spec.required else 'no'} | {spec.unit or '—'} | {doc} |"


if __name__ == "__main__":  # python -m flow.report.schema: print the tables for docs/report_schema.md
    print(schema_markdown(), end="")
