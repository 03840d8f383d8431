"""One exception type for every error a user can cause and fix.

The CLI prints a FlowError as a single line and exits non-zero; anything else is a bug and
keeps its traceback.
"""
import sys
from collections.abc import Callable


class FlowError(Exception):
    """A user-facing error: the message names the file or node and what to do."""


def run_script(main: Callable[[], int | None], name: str) -> None:
    """The entry of a script outside the CLI (bench/): a FlowError exits with one line naming the
    script and status 2, as the CLI does; anything else is a bug and keeps its traceback."""
    try:
        code = main()
    except FlowError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)
