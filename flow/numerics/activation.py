"""The monotone swish: swish held at its minimum below x₀ (flow.nn.layers.MonotoneSwish), so a
threshold unit can implement it; float64 here, for the lowering's threshold search."""
import numpy as np

# argmin of x·σ(x): the root of σ(x)·(1 + x·(1 − σ(x))) = 0; the minimum is −0.2785
SWISH_ARGMIN = -1.2784645427610738


def monotone_swish(real: np.ndarray, x0: float = SWISH_ARGMIN) -> np.ndarray:
    c = np.maximum(real, x0)
    return c * (1.0 / (1.0 + np.exp(-c)))  # the exported graph's order: Sigmoid, then Mul
