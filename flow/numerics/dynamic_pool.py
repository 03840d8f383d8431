"""Fixed-point dynamic pooling (DESIGN §6): the format, its tables and thresholds, the streaming
integer reference, and the node attributes that carry the format.

It sits below both the torch layer (`flow.nn.dynamic_pool`, which computes the same integers in
training and exports them) and the dataflow ops (`flow.ir.ops.dynamic_pool`, the golden model),
so neither imports the other. The arithmetic is documented in `flow.nn.dynamic_pool`.
"""
import math
from dataclasses import dataclass, replace

import numpy as np
import torch

SIGMOID_RANGE = 8.0      # |pre-activation| beyond which the LUT is flat (sigmoid(8) = 0.99966)



@dataclass(frozen=True)
class DynamicPoolFormat:
    """Every width of the fixed-point dynamic pool (see the module docstring for the arithmetic)."""
    lmax: int               # static output frames per chunk
    feature_bits: int       # unsigned features
    lut_bits: int           # LUT index width K: 2^K entries per table
    a_shift: int            # right shift of the importance accumulator a before the LUT
    b_shift: int            # right shift of the move accumulator b before the LUT
    weight_frac_bits: int   # Fw: importance w, unsigned, fractional only
    move_frac_bits: int     # F: move, position and resampling-weight fractional bits
    move_int_bits: int      # I: integer bits of a move
    prod_shift: int         # S: low bits dropped (floor) from each w·f·(resampling weight) product
    acc_bits: int           # unsigned saturating accumulator per frame and channel
    out_bits: int           # unsigned requantized output

    @property
    def lut_size(self) -> int:
        return 1 << self.lut_bits

    @property
    def weight_max(self) -> int:
        return (1 << self.weight_frac_bits) - 1

    @property
    def move_max(self) -> int:
        return (1 << (self.move_frac_bits + self.move_int_bits)) - 1

    @property
    def pos_bits(self) -> int:
        """Width of the position accumulator: holds the saturation cap Lmax·2^F."""
        return self.move_frac_bits + self.lmax.bit_length()

    @property
    def pos_cap(self) -> int:
        return self.lmax << self.move_frac_bits

    @property
    def acc_max(self) -> int:
        return (1 << self.acc_bits) - 1

    @property
    def out_max(self) -> int:
        return (1 << self.out_bits) - 1

    @property
    def count_bits(self) -> int:
        return self.lmax.bit_length()

    def check(self) -> None:
        for name in ("lmax", "feature_bits", "lut_bits", "weight_frac_bits", "move_frac_bits", "acc_bits", "out_bits"):
            if getattr(self, name) < 1:
                raise ValueError(f"DynamicPoolFormat.{name} must be ≥ 1 (got {getattr(self, name)})")
        for name in ("a_shift", "b_shift", "move_int_bits", "prod_shift"):
            if getattr(self, name) < 0:
                raise ValueError(f"DynamicPoolFormat.{name} must be ≥ 0 (got {getattr(self, name)})")
        if self.acc_bits > 62 or self.pos_bits > 62:
            raise ValueError("DynamicPoolFormat: accumulator or position wider than 62 bits")


def lut_index(acc, bits: int, shift: int):
    """LUT index of integer pre-activations (numpy or torch int64): clip(acc >> shift) + 2^(bits−1)."""
    half = 1 << (bits - 1)
    if isinstance(acc, torch.Tensor):
        return torch.clamp(acc >> shift, -half, half - 1) + half
    return np.clip(np.asarray(acc, dtype=np.int64) >> shift, -half, half - 1) + half


def _bin_centres(bits: int, shift: int) -> np.ndarray:
    """The accumulator value at the centre of each LUT bin (the inputs a with the same a >> shift)."""
    v = np.arange(1 << bits, dtype=np.float64) - (1 << (bits - 1))
    return v * (1 << shift) + ((1 << shift) - 1) / 2


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def build_luts(fmt: DynamicPoolFormat, acc_scale: tuple[float, float], move_scale: float) -> np.ndarray:
    """The two tables [2, 2^K] int64: row 0 importance (Fw bits), row 1 move with r folded in (F + I bits)."""
    xa = _bin_centres(fmt.lut_bits, fmt.a_shift) * float(acc_scale[0])
    xb = _bin_centres(fmt.lut_bits, fmt.b_shift) * float(acc_scale[1])
    w = np.clip(np.rint(_sigmoid(xa) * (1 << fmt.weight_frac_bits)), 0, fmt.weight_max)
    m = np.clip(np.rint(_sigmoid(xb) * float(move_scale) * (1 << fmt.move_frac_bits)), 0, fmt.move_max)
    return np.stack([w, m]).astype(np.int64)


def _lut_shift(scale: float, bound: int, bits: int, sigmoid_range: float) -> int:
    """Smallest shift whose LUT covers |a| ≤ min(bound, sigmoid_range/scale)."""
    reach = min(int(bound), int(math.ceil(sigmoid_range / scale)))
    shift = 0
    while (reach >> shift) > (1 << (bits - 1)) - 1:
        shift += 1
    return shift


def choose_format(*, t_in: int, feature_bits: int, out_bits: int, acc_scale: tuple[float, float],
                  acc_bound: tuple[int, int], move_scale: float, lmax: int | None = None, lut_bits: int = 8,
                  weight_frac_bits: int = 8, move_frac_bits: int = 8, prod_shift: int | None = None,
                  sigmoid_range: float = SIGMOID_RANGE) -> DynamicPoolFormat:
    """Widths from the trained ranges.

    - LUT shifts: the table spans |pre-activation| up to the smaller of the accumulator's
      bound (Σ|W|·max input + |bias|, from the trained weights) and `sigmoid_range`, where
      the sigmoid is flat.
    - move integer bits: enough for the largest move, r·2^F (r = the trained move scale).
    - prod_shift: F by default (each product keeps the Fw fractional bits of w·f).
    - acc_bits: exact for the worst case: a frame collects the inputs whose position lies in
      [j−1, j+1), at most min(T, ⌈2·2^F / smallest move⌉) of them, each ≤ the largest term.
    - lmax: given (the static frame budget), else the largest count T·(largest move) allows.
    """
    F_ = move_frac_bits
    move_int_bits = max(0, int(round(float(move_scale) * (1 << F_))).bit_length() - F_)
    fmt = DynamicPoolFormat(
        lmax=max(1, int(lmax or 1)), feature_bits=feature_bits, lut_bits=lut_bits,
        a_shift=_lut_shift(acc_scale[0], acc_bound[0], lut_bits, sigmoid_range),
        b_shift=_lut_shift(acc_scale[1], acc_bound[1], lut_bits, sigmoid_range),
        weight_frac_bits=weight_frac_bits, move_frac_bits=F_, move_int_bits=move_int_bits,
        prod_shift=F_ if prod_shift is None else prod_shift, acc_bits=1, out_bits=out_bits)
    luts = build_luts(fmt, acc_scale, move_scale)
    if lmax is None:
        fmt = replace(fmt, lmax=int((t_in * int(luts[1].max())) >> F_) + 2)
    m_min = int(luts[1].min())
    per_frame = t_in if m_min == 0 else min(t_in, ((2 << F_) - 1) // m_min + 1)
    term = (((1 << feature_bits) - 1) * fmt.weight_max << F_) >> fmt.prod_shift
    fmt = replace(fmt, acc_bits=max(1, (per_frame * term).bit_length()))
    fmt.check()
    return fmt


def requant_thresholds(fmt: DynamicPoolFormat, feature_scale: float, out_scale: float) -> np.ndarray:
    """Thresholds [2^out_bits − 1] int64 ≥ 1: out = round-half-up(acc · k), k = s_f 2^−(Fw+F−S) / s_out."""
    k = float(feature_scale) * 2.0 ** -(fmt.weight_frac_bits + fmt.move_frac_bits - fmt.prod_shift) / float(out_scale)
    levels = np.arange(1, fmt.out_max + 1, dtype=np.float64)
    return np.maximum(np.ceil((levels - 0.5) / k), 1).astype(np.int64)


def dynamic_pool_int(features_int, a_int, b_int, fmt: DynamicPoolFormat, luts, thresholds) -> tuple[np.ndarray, int, bool]:
    """The integer reference, streaming like the hardware: one chunk, features [T, C] (unsigned),
    predictor accumulators a, b [T], tables [2, 2^K], thresholds [C, levels] or [levels] (≥ 1)
    → (out [Lmax, C] int64, valid frame count, overflow)."""
    f = np.asarray(features_int, dtype=np.int64)
    t_len, channels = f.shape
    luts = np.asarray(luts, dtype=np.int64)
    thr = np.asarray(thresholds, dtype=np.int64)
    thr = np.broadcast_to(thr, (channels, thr.shape[-1])) if thr.ndim == 1 else thr
    if t_len < 1:
        raise ValueError("dynamic_pool_int: at least one input frame is needed")
    if f.size and (f.min() < 0 or f.max() > (1 << fmt.feature_bits) - 1):
        raise ValueError(f"dynamic_pool_int: features outside UINT{fmt.feature_bits}")
    if luts.shape != (2, fmt.lut_size) or luts.min() < 0 or luts[0].max() > fmt.weight_max or luts[1].max() > fmt.move_max:
        raise ValueError("dynamic_pool_int: tables must be [2, 2^lut_bits] within the importance and move widths")
    if thr.shape[0] != channels or (thr.size and thr.min() < 1):
        raise ValueError("dynamic_pool_int: thresholds must be [C, levels] (or [levels]) and ≥ 1")
    w = luts[0][lut_index(a_int, fmt.lut_bits, fmt.a_shift)]
    m = luts[1][lut_index(b_int, fmt.lut_bits, fmt.b_shift)]
    one, frac_mask, cap, shift = 1 << fmt.move_frac_bits, (1 << fmt.move_frac_bits) - 1, fmt.pos_cap, fmt.prod_shift
    out = np.zeros((fmt.lmax, channels), dtype=np.int64)

    def emit(frame: int, acc: np.ndarray) -> None:
        if frame < fmt.lmax:
            out[frame] = (thr <= acc[:, None]).sum(axis=1)  # multi-threshold: count of thresholds ≤ acc

    pos, cur = 0, 0                                  # position; lowest frame still open
    acc0 = np.zeros(channels, dtype=np.int64)        # frame cur
    acc1 = np.zeros(channels, dtype=np.int64)        # frame cur + 1
    for i in range(t_len):
        pos = min(pos + int(m[i]), cap)
        j, phi = pos >> fmt.move_frac_bits, pos & frac_mask
        while cur < j:                               # the position passed frame cur: it is complete
            emit(cur, acc0)
            acc0, acc1 = acc1, np.zeros(channels, dtype=np.int64)
            cur += 1
        wf = int(w[i]) * f[i]
        acc0 = np.minimum(acc0 + ((wf * (one - phi)) >> shift), fmt.acc_max)
        acc1 = np.minimum(acc1 + ((wf * phi) >> shift), fmt.acc_max)
    emit(cur, acc0)
    emit(cur + 1, acc1)
    return out, min(cur + 2, fmt.lmax), cur + 2 > fmt.lmax


# node attribute ← DynamicPoolFormat field (feature and output widths come from the data types)
FORMAT_ATTRIBUTES = {"Lmax": "lmax", "LutBits": "lut_bits", "AShift": "a_shift", "BShift": "b_shift",
                     "WeightFracBits": "weight_frac_bits", "MoveFracBits": "move_frac_bits",
                     "MoveIntBits": "move_int_bits", "ProdShift": "prod_shift", "AccBits": "acc_bits"}


def format_attributes(fmt: DynamicPoolFormat) -> dict:
    """Node attributes for a format (with the feature and output data types)."""
    return {attr: int(getattr(fmt, field)) for attr, field in FORMAT_ATTRIBUTES.items()} | {
        "inputDataType": f"UINT{fmt.feature_bits}", "outputDataType": f"UINT{fmt.out_bits}"}


def qonnx_node_attributes(attrs: dict) -> dict:
    """`DynamicPoolQ` node attributes from `DynamicPool.export_attributes`."""
    fmt = attrs["format"]
    return {attr: fmt[field] for attr, field in FORMAT_ATTRIBUTES.items()} | {
        "FeatureBits": fmt["feature_bits"], "OutBits": fmt["out_bits"], "NumChannels": attrs["channels"],
        "Luts": attrs["luts"], "Thresholds": attrs["thresholds"], "Bias": attrs["bias"],
        "FeatureScale": float(attrs["feature_scale"]), "AccScale": [float(v) for v in attrs["acc_scale"]],
        "OutScale": float(attrs["out_scale"])}
