"""`rubicon`: one subcommand per flow stage (Bonito-style compact CLI)."""
import argparse
import sys

from flow import __version__
from flow.errors import FlowError

COMMANDS = ("simulate", "chunkify", "train", "skipclip", "search", "basecall", "evaluate", "realism", "export", "lower", "build", "csim", "cyclesim", "rtlsim", "synth", "report")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or of `only` (a command imports just its own stage: `rubicon
    train` needs no ONNX tooling, and starts faster)."""
    from importlib import import_module

    parser = argparse.ArgumentParser(prog="rubicon", description="Hardware co-design flow for nanopore basecallers.")
    parser.add_argument("--version", action="version", version=f"rubicon {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in [only] if only else COMMANDS:
        module = import_module(f"flow.cli.{name}")
        p = sub.add_parser(name, help=module.__doc__.strip().splitlines()[0], description=module.__doc__)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command if command in COMMANDS else None).parse_args(argv)
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
