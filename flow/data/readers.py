"""Readers for POD5, FAST5 (single- and multi-read), SLOW5/BLOW5 and Taiyaki mapped signal.

Every reader yields `Read` objects, or `ReadFailure` for a read it cannot decode, so one
bad read never stops the others. A file that cannot be opened at all yields one
`ReadFailure` with `read_id=None`.
"""
import ctypes
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from flow.data.read import BASES, Read, ReadFailure
from flow.errors import FlowError

BLOW5_EOF = b"5WOLB"  # every complete BLOW5 file ends with this marker

SIGNAL_SUFFIXES = {
    ".pod5": "pod5",
    ".fast5": "fast5",
    ".slow5": "slow5",
    ".blow5": "slow5",
    ".hdf5": "mapped",
    ".h5": "mapped",
}


def signal_format(path: Path) -> str:
    fmt = SIGNAL_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise FlowError(
            f"{path}: unknown signal file type {path.suffix!r}; "
            f"use one of {', '.join(sorted(SIGNAL_SUFFIXES))}"
        )
    return fmt


def expand_inputs(inputs) -> list[Path]:
    """Files named directly, plus the signal files inside named directories."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in SIGNAL_SUFFIXES)
            if not found:
                raise FlowError(f"{path}: directory holds no signal files ({', '.join(SIGNAL_SUFFIXES)})")
            files.extend(found)
        elif path.exists():
            signal_format(path)
            files.append(path)
        else:
            raise FlowError(f"{path} does not exist")
    return files


def iter_reads(path) -> Iterator[Read | ReadFailure]:
    """All reads of one signal file, in file order."""
    path = Path(path)
    reader = {"pod5": _pod5, "fast5": _fast5, "slow5": _slow5, "mapped": _mapped}[signal_format(path)]
    try:
        yield from reader(path)
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        yield ReadFailure(str(path), None, f"cannot read file ({type(exc).__name__}: {exc})")


def load_reads(paths) -> tuple[list[Read], list[ReadFailure]]:
    reads, failures = [], []
    for path in expand_inputs(paths):
        for item in iter_reads(path):
            (failures if isinstance(item, ReadFailure) else reads).append(item)
    return reads, failures


def _adc(values) -> np.ndarray:
    """Raw ADC samples as int16. A float dataset is taken only when every value is a finite integer
    in range: NaN or infinity cast to int16 would become arbitrary numbers, not an error."""
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        if values.size and (values.min() < -32768 or values.max() > 32767):
            raise ValueError("signal values outside the int16 ADC range")
    elif values.dtype.kind == "f":
        if not np.isfinite(values).all():
            raise ValueError("signal holds NaN or infinite values")
        if values.size and (values.min() < -32768 or values.max() > 32767 or (values != np.round(values)).any()):
            raise ValueError("signal is not integer ADC values")
    else:
        raise ValueError(f"signal of type {values.dtype} is not ADC values")
    return values.astype(np.int16)


def _checked(read: Read, path: Path) -> Read | ReadFailure:
    """Reject reads whose signal or calibration cannot be right."""
    if read.signal.size == 0:
        return ReadFailure(str(path), read.read_id, "empty signal")
    if np.ptp(read.signal) == 0:  # one sample, or a stuck channel: nothing to normalise or call
        return ReadFailure(str(path), read.read_id, f"flat signal: {read.signal.size} sample(s), all equal")
    calibration = (read.digitisation, read.range, read.offset)
    if not (np.isfinite(calibration).all() and read.digitisation > 0 and read.range > 0):
        return ReadFailure(str(path), read.read_id, "invalid calibration (digitisation/range/offset must be finite, "
                                                    "digitisation and range positive)")
    if read.ref_to_signal is not None:
        r2s = read.ref_to_signal
        if len(r2s) != len(read.reference) + 1 or np.any(np.diff(r2s) < 0) or r2s[-1] > read.signal.size or r2s[0] < 0:
            return ReadFailure(str(path), read.read_id, "reference-to-signal alignment inconsistent with signal/reference")
    return read


def _hdf5(path: Path, vbz: bool = True):
    import h5py
    if vbz:
        import vbz_h5py_plugin  # noqa: F401  registers the VBZ filter that MinKNOW FAST5 files use

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise OSError(f"not a readable HDF5 file, truncated or corrupt ({exc})") from None


def _attr_str(value) -> str:
    return value.decode() if isinstance(value, bytes | np.bytes_) else str(value)


def _fast5(path: Path) -> Iterator[Read | ReadFailure]:
    with _hdf5(path) as f:
        if "Raw" in f:  # single-read layout
            groups = [(None, f)]
        else:  # multi-read layout: /read_<id>/...
            groups = [(name, f[name]) for name in f if name.startswith("read_")]
            if not groups:
                raise ValueError("no /Raw group and no read_* groups: not a FAST5 file")
        for name, group in groups:
            read_id = name[5:] if name else None
            try:
                if name is None:
                    raw_reads = group["Raw/Reads"]
                    raw = raw_reads[next(iter(raw_reads))]
                    channel = group["UniqueGlobalKey/channel_id"].attrs
                else:
                    raw = group["Raw"]
                    channel = group["channel_id"].attrs
                read_id = _attr_str(raw.attrs["read_id"])
                signal = _adc(raw["Signal"][:])
                read = Read(
                    read_id=read_id,
                    signal=signal,
                    offset=float(channel["offset"]),
                    range=float(channel["range"]),
                    digitisation=float(channel["digitisation"]),
                    sample_rate=float(channel["sampling_rate"]),
                    source=str(path),
                )
            except (KeyError, OSError, ValueError, StopIteration, TypeError) as exc:
                yield ReadFailure(str(path), read_id, f"missing or unreadable field ({exc})")
                continue
            yield _checked(read, path)


def _mapped(path: Path) -> Iterator[Read | ReadFailure]:
    with _hdf5(path, vbz=False) as f:  # Taiyaki/h5py files: no VBZ filter
        if "Reads" not in f:
            raise ValueError("no /Reads group: not a Taiyaki mapped-signal file")
        alphabet = _attr_str(f.attrs.get("alphabet", BASES))
        for read_id, group in f["Reads"].items():
            try:
                attrs = group.attrs
                codes = np.asarray(group["Reference"][:], dtype=np.int64)
                if codes.size and (codes.min() < 0 or codes.max() >= len(alphabet)):
                    raise ValueError(f"reference codes outside alphabet {alphabet}")
                read = Read(
                    read_id=read_id,
                    signal=_adc(group["Dacs"][:]),
                    offset=float(attrs["offset"]),
                    range=float(attrs["range"]),
                    digitisation=float(attrs["digitisation"]),
                    sample_rate=float(attrs.get("sample_rate", 4000.0)),
                    source=str(path),
                    reference="".join(alphabet[c] for c in codes),
                    ref_to_signal=np.asarray(group["Ref_to_signal"][:], dtype=np.int64),
                )
            except (KeyError, OSError, ValueError, TypeError) as exc:
                yield ReadFailure(str(path), read_id, f"missing or unreadable field ({exc})")
                continue
            yield _checked(read, path)


def _pod5(path: Path) -> Iterator[Read | ReadFailure]:
    import pod5

    try:
        reader = pod5.Reader(path)
    except Exception as exc:  # pod5 raises bare Exceptions from its Arrow layer
        raise OSError(f"not a readable POD5 file, truncated or corrupt ({exc})") from None
    with reader:
        for record in reader.reads():
            read_id = None
            try:
                read_id = str(record.read_id)
                cal = record.calibration
                # POD5 stores pA = (raw + offset) · scale; express as range/digitisation.
                digitisation = float(record.run_info.adc_max - record.run_info.adc_min + 1)
                read = Read(
                    read_id=read_id,
                    signal=_adc(record.signal),
                    offset=float(cal.offset),
                    range=float(cal.scale) * digitisation,
                    digitisation=digitisation,
                    sample_rate=float(record.run_info.sample_rate),
                    source=str(path),
                )
            except Exception as exc:  # a damaged signal chunk surfaces as a generic Arrow error
                yield ReadFailure(str(path), read_id, f"cannot decode read ({type(exc).__name__}: {exc})")
                continue
            yield _checked(read, path)


class _Collect(logging.Handler):
    """Keeps the error messages a library logs."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _slow5lib_opens(path: Path) -> bool:
    """Whether slow5lib can open the file. pyslow5.Open crashes the process (a segmentation fault)
    on a malformed header instead of raising, so the file is first opened with slow5lib's own
    slow5_open, which returns NULL; its console logging is switched off, as failures are reported
    here. A pyslow5 build without those symbols is probed in a child process instead."""
    import pyslow5

    try:
        lib = ctypes.CDLL(pyslow5.__file__)  # the library already loaded: same handle, same globals
        ctypes.c_int.in_dll(lib, "slow5_log_level").value = 0  # SLOW5_LOG_OFF
        lib.slow5_open.restype, lib.slow5_open.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_char_p]
        lib.slow5_close.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError, ValueError):
        probe = "import sys, pyslow5; pyslow5.Open(sys.argv[1], 'r')"
        return subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True).returncode == 0
    handle = lib.slow5_open(os.fsencode(path), b"r")
    if handle:
        lib.slow5_close(handle)
    return bool(handle)


def _slow5(path: Path) -> Iterator[Read | ReadFailure]:
    import pyslow5

    if path.stat().st_size < 8:
        raise OSError("file too short to be SLOW5/BLOW5")
    truncated = False
    if path.suffix.lower() == ".blow5":
        with open(path, "rb") as handle:
            handle.seek(-5, 2)
            truncated = handle.read(5) != BLOW5_EOF
    if not _slow5lib_opens(path):
        raise OSError("not a readable SLOW5/BLOW5 file (malformed header)")
    try:
        handle = pyslow5.Open(str(path), "r")
    except Exception as exc:
        raise OSError(f"not a readable SLOW5/BLOW5 file ({exc})") from None
    # pyslow5 ends its iteration quietly at a record it cannot parse, logging the error: catch the
    # log (instead of its console line), or the rest of a damaged file would be lost unnoticed.
    logger, errors, decoded = logging.getLogger("pyslow5"), _Collect(), 0
    saved, logger.handlers = logger.handlers, [errors]
    try:
        for record in handle.seq_reads(pA=False):
            if record is None:
                raise OSError("record could not be decoded (truncated or corrupt)")
            decoded += 1
            read_id = record.get("read_id")
            try:
                read = Read(
                    read_id=str(read_id),
                    signal=_adc(record["signal"]),
                    offset=float(record["offset"]),
                    range=float(record["range"]),
                    digitisation=float(record["digitisation"]),
                    sample_rate=float(record["sampling_rate"]),
                    source=str(path),
                )
            except (KeyError, TypeError, ValueError) as exc:
                yield ReadFailure(str(path), read_id, f"missing or unreadable field ({exc})")
                continue
            yield _checked(read, path)
    finally:
        logger.handlers = saved
        handle.close() if hasattr(handle, "close") else None
    if errors.messages:
        yield ReadFailure(str(path), None, f"record {decoded + 1} could not be decoded, the rest of the file is unread "
                                           f"(truncated or corrupt: {errors.messages[0]})")
    elif truncated:  # the records before the cut were still read
        yield ReadFailure(str(path), None, "BLOW5 end-of-file marker missing: the file is truncated")
