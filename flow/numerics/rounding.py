"""Rounding shared by the lowering, the golden model's input quantizer and the driver."""
import numpy as np


def round_half_even(x: np.ndarray) -> np.ndarray:
    """Round to nearest, halves to even: the QONNX `Quant` op's ROUND mode (numpy's `round`)."""
    return np.round(x)
