"""`rubicon`: one subcommand per flow stage (Bonito-style compact CLI)."""
import argparse
import sys

from flow import __version__
from flow.errors import FlowError

COMMANDS = ("simulate", "chunkify", "train", "skipclip", "search", "basecall", "evaluate", "realism", "export", "lower", "build", "csim", "cyclesim", "rtlsim", "synth", "report")


def build_parser() -> argparse.ArgumentParser:
    from importlib import import_module

    parser = argparse.ArgumentParser(prog="rubicon", description="Hardware co-design flow for nanopore basecallers.")
    parser.add_argument("--version", action="version", version=f"rubicon {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = import_module(f"flow.cli.{name}")
        p = sub.add_parser(name, help=module.__doc__.strip().splitlines()[0], description=module.__doc__)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(None if argv is None else [str(a) for a in argv])
    try:
        return args.run(args) or 0
    except FlowError as exc:
        print(f"rubicon {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the system refused (missing, not a folder, no space): one line naming it
        if exc.filename is None:
            raise
        print(f"rubicon {args.command}: error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
