"""Build reports: the schema of `<build>/report.json` and its rendering as Markdown + plots.

`validate_report(data, source)` checks a report against the documented schema
(`docs/report_schema.md`); `render_report(report, out_dir)` writes `report.md` and the PNG plots;
`load_report(path)` reads and validates a report file; `save_report(report, build_dir)` writes it
whole (validated, renamed into place) and renders the page beside it.
"""
import json
import os
from pathlib import Path

from flow.errors import FlowError
from flow.report.render import PLOTS, render_report
from flow.report.schema import SCHEMA, SCHEMA_VERSION, validate_report


def load_report(path) -> dict:
    """Read and validate a report.json; every problem is one FlowError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FlowError(f"{path} does not exist; run `rubicon build` first to produce it")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FlowError(f"{path}: not valid JSON ({exc}); a truncated report? rerun `rubicon build`") from None
    except OSError as exc:
        raise FlowError(f"{path}: cannot read ({exc.strerror})") from None
    validate_report(data, str(path))
    return data


def save_report(report: dict, build_dir) -> None:
    """build_dir/report.json, validated and written under a temporary name then renamed (never half a
    report), then report.md and its plots."""
    validate_report(report, "report")
    path = Path(build_dir) / "report.json"
    tmp = path.with_name("report.json.partial")
    tmp.write_text(json.dumps(report, indent=1, default=float))
    os.replace(tmp, path)
    from flow.report.render import render_report as render  # at call time: a renderer that cannot load fails the caller
    render(report, build_dir)


__all__ = ["PLOTS", "SCHEMA", "SCHEMA_VERSION", "load_report", "render_report", "save_report", "validate_report"]
