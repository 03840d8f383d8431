"""Render a build's report.json as a Markdown page with plots (resources, cycles, utilisation, FIFOs).

Reads BUILD_DIR/report.json (written by `rubicon build`), validates it against the documented
schema (docs/report_schema.md) and writes report.md and the PNG plots into --out (default
BUILD_DIR). Rendering elsewhere, e.g. into reports/<target>/<model>/, copies report.json along
so the folder stands on its own.
"""
from pathlib import Path

from flow.cli.common import check_output, staged_file
from flow.errors import FlowError


def add_arguments(p):
    p.add_argument("build_dir", type=Path, metavar="BUILD_DIR", help="build directory holding report.json")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where to write report.md and the plots (default: BUILD_DIR)")


def run(args):
    from flow.report import load_report, render_report

    if not args.build_dir.is_dir():
        raise FlowError(f"{args.build_dir} is not a directory; run `rubicon build` first to produce a build directory")
    source = args.build_dir / "report.json"
    report = load_report(source)
    out = args.out if args.out is not None else args.build_dir
    if out.exists() and not out.is_dir():
        raise FlowError(f"{out} exists and is not a directory; choose another --out")
    check_output(out)
    md = render_report(report, out, build_dir=args.build_dir)
    copy = out / "report.json"
    if not copy.exists() or not copy.samefile(source):
        with staged_file(copy) as tmp:
            tmp.write_bytes(source.read_bytes())
    print(md)
