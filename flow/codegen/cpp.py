"""Small C++ spelling helpers: integer types and constant arrays."""
import re

import numpy as np
from qonnx.core.datatype import DataType

from flow.errors import FlowError


def int_bits(dtype_name: str) -> tuple[int, bool]:
    """qonnx integer DataType name → (bits, signed); BINARY is a 1-bit unsigned."""
    dt = DataType[dtype_name]
    if not dt.is_integer():
        raise FlowError(f"data type {dtype_name} is not an integer type; the kernels stream integers only")
    return dt.bitwidth(), dt.signed()


def ctype(dtype_name: str) -> str:
    bits, signed = int_bits(dtype_name)
    return f"ap_int<{bits}>" if signed else f"ap_uint<{bits}>"


def signed_type_holding(values: np.ndarray, at_least: int = 2) -> str:
    """ap_int wide enough for every value (thresholds may sit one past the accumulator range)."""
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    bits = max(at_least, (-lo - 1).bit_length() + 1 if lo < 0 else 1, hi.bit_length() + 1)
    return f"ap_int<{bits}>"


def identifier(name: str) -> str:
    """A C++ identifier from a node or tensor name (names are sanitised, never trusted)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return cleaned if cleaned[:1].isalpha() else f"n_{cleaned}"


def array_literal(values: np.ndarray) -> str:
    """Nested brace initialiser for an integer array of any rank."""
    values = np.asarray(values)
    if values.ndim == 1:
        return "{" + ",".join(str(int(v)) for v in values) + "}"
    return "{" + ",\n".join(array_literal(v) for v in values) + "}"
