"""One exception type for every error a user can cause and fix.

The CLI prints a FlowError as a single line and exits non-zero; anything else is a bug and
keeps its traceback.
"""


class FlowError(Exception):
    """A user-facing error: the message names the file or node and what to do."""
