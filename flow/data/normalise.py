"""Per-read signal normalisation used for training and basecalling alike."""
import numpy as np

MAD_TO_SD = 1.4826
DEFAULT_CLIP = 2.5  # the network input range; the input quantizer starts from it


def med_mad(signal: np.ndarray) -> tuple[float, float]:
    """Median and MAD·1.4826 (a robust SD) of a signal."""
    med = float(np.median(signal))
    mad = float(np.median(np.abs(signal - med))) * MAD_TO_SD
    return med, max(mad, 1e-6)


def normalise(pa: np.ndarray, clip: float = DEFAULT_CLIP) -> np.ndarray:
    """(pA − median) / MAD, clipped to ±clip, float32."""
    med, mad = med_mad(pa)
    return np.clip((pa - med) / mad, -clip, clip).astype(np.float32)
