"""Spelling helpers for generated code: C++ integer types, constant arrays and identifiers, and
names in comments. Names come from user files (model names, ONNX node and tensor names): they are
sanitised to a fixed alphabet here, never written raw into C++, Tcl or Python."""
import re

import numpy as np
from qonnx.core.datatype import DataType

from flow.errors import FlowError
from flow.ir.ops.base import signed_bits


def int_bits(dtype_name: str) -> tuple[int, bool]:
    """qonnx integer DataType name → (bits, signed); BINARY is a 1-bit unsigned."""
    try:
        dt = DataType[dtype_name]
    except (KeyError, ValueError, TypeError):
        raise FlowError(f"unknown data type {dtype_name!r}; the kernels stream INT<n>/UINT<n>/BIPOLAR/BINARY") from None
    if not dt.is_integer():
        raise FlowError(f"data type {dtype_name} is not an integer type; the kernels stream integers only")
    if not 1 <= dt.bitwidth() <= 1024:  # ap_int's widths
        raise FlowError(f"data type {dtype_name}: {dt.bitwidth()} bits; ap_int/ap_uint take 1 to 1024")
    return dt.bitwidth(), dt.signed()


def ctype(dtype_name: str) -> str:
    bits, signed = int_bits(dtype_name)
    return f"ap_int<{bits}>" if signed else f"ap_uint<{bits}>"


def signed_type_holding(values: np.ndarray, at_least: int = 2) -> str:
    """ap_int wide enough for every value (thresholds may sit one past the accumulator range)."""
    return f"ap_int<{signed_bits(values, at_least)}>"


def identifier(name: str) -> str:
    """A C++ identifier from a node or tensor name (names are sanitised, never trusted)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return cleaned if cleaned[:1].isalpha() else f"n_{cleaned}"


COMMENT_SAFE = re.compile(r"[^A-Za-z0-9 _.,:/+=()-]")


def comment_text(text, limit: int = 120) -> str:
    """A name as comment or docstring text: one line of letters, digits and plain punctuation
    (no quotes, backslashes, braces, brackets, `$`, `;`, `#` or `@`: nothing a Python docstring,
    a Tcl comment or a template could read as code); other characters become `?`."""
    text = COMMENT_SAFE.sub("?", " ".join(str(text).split()))
    return text if len(text) <= limit else text[:limit - 3] + "..."


def array_literal(values: np.ndarray) -> str:
    """Nested brace initialiser for an integer array of any rank."""
    values = np.asarray(values)
    if values.ndim == 1:
        return "{" + ",".join(str(int(v)) for v in values) + "}"
    return "{" + ",\n".join(array_literal(v) for v in values) + "}"
