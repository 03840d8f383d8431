"""Helpers shared by the subcommands."""
import contextlib
import os
import shutil
from pathlib import Path

from flow.errors import FlowError


def check_output(path: Path) -> Path:
    """An output path that can be created: its nearest existing parent is a writable folder.
    Checked before any work, so an unwritable output fails at once, naming the path."""
    path = Path(path)
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise FlowError(f"cannot write {path}: {parent} is a file, not a folder; choose another output path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FlowError(f"cannot write {path}: {parent} is not writable; choose another output path")
    return path


def refuse_failures(failures) -> None:
    """One error line for reads that could not be read: the first, and how many more."""
    if failures:
        raise FlowError(f"{failures[0]}" + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""))


@contextlib.contextmanager
def staged_output(directory: Path):
    """Build an output directory beside its final place and move it in only when complete."""
    directory = check_output(directory)
    if directory.exists() and any(directory.iterdir()):
        raise FlowError(f"{directory} exists and is not empty; choose another --out or remove it")
    staging = directory.with_name(directory.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if directory.exists():
        directory.rmdir()
    staging.rename(directory)


@contextlib.contextmanager
def staged_file(path: Path):
    """Write a file under a temporary name and rename it into place only on success."""
    path = check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
