"""Float64 evaluation of an exported QONNX basecaller: the reference the lowering is proved against.

Same float32 parameters and scales as the exported graph (and as the float32 Brevitas model that
wrote it), but float64 arithmetic, so sums of quantized products are exact and every quantizer
sees the mathematically exact value. This is the arithmetic the integer thresholds encode; float32
execution differs from it only where a value falls within float32 rounding error of a quantization
boundary.

It is written from the specifications, not from the code it checks: the QONNX `Quant` operator
(round half to even, then clip) and the fixed-point dynamic pool of DESIGN §6 as
`flow.nn.dynamic_pool`'s docstring states it, computed directly over the whole chunk (positions as
a saturated cumulative sum, both resampling terms scattered into a full frame array, then the
thresholds) instead of streaming two frames at a time like the golden op and the hardware. So a
rounding or pooling error in the lowering or the golden model shows up as a mismatch.
"""
import numpy as np
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper

from flow.errors import FlowError


def round_half_even(x: np.ndarray) -> np.ndarray:
    """Nearest integer, ties to the even neighbour (the QONNX Quant ROUND mode), as float64.

    From the definition: the floor r and the remainder d = x − r (exact in float64 for |x| < 2^52),
    then r + 1 where d > ½, or where d = ½ and r is odd.
    """
    x = np.asarray(x, dtype=np.float64)
    r = np.floor(x)
    with np.errstate(invalid="ignore"):  # ±inf and NaN stay as they are (d is NaN there)
        d = x - r
        return r + ((d > 0.5) | ((d == 0.5) & (np.fmod(r, 2) != 0)))


def _quant(name, x, scale, zero, bits, signed, narrow, rounding):
    if rounding.upper() != "ROUND":
        raise FlowError(f"{name} (Quant): rounding_mode {rounding} is not supported by the float64 reference (ROUND only)")
    b = int(bits)
    lo = (-(2 ** (b - 1)) + narrow) if signed else 0
    hi = (2 ** (b - 1) - 1) if signed else 2**b - 1 - narrow
    q = np.clip(round_half_even(x / scale + zero), lo, hi)
    return (q - zero) * scale


def _conv1d(x, w, pads, stride, dilation, group):
    n, c_in, _ = x.shape
    c_out, c_in_g, k = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[1])))
    t_out = (x.shape[2] - dilation * (k - 1) - 1) // stride + 1
    taps = np.arange(t_out)[:, None] * stride + np.arange(k)[None, :] * dilation  # [T, K]
    windows = x[:, :, taps].reshape(n, group, c_in_g, t_out, k)  # [N, G, Cg, T, K]
    weights = w.reshape(group, c_out // group, c_in_g, k)  # [G, Og, Cg, K]
    return np.einsum("ngctk,gock->ngot", windows, weights, optimize=True).reshape(n, c_out, t_out)


def _integers(name: str, real: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Real values that the node's interface defines as integers · scale, back as integers."""
    ratio = np.asarray(real, dtype=np.float64) / scale
    ints = round_half_even(ratio)
    if ints.size and np.abs(ratio - ints).max() > 0.25:
        raise FlowError(f"{name} (DynamicPoolQ): an input is not a multiple of its scale attribute; re-export the model")
    return ints.astype(np.int64)


def dynamic_pool_frames(features, a, b, attrs: dict, luts, thresholds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fixed-point dynamic pool of whole chunks, directly from its definition.

    features [N, C, T] unsigned integers; a, b [N, T] integer predictor accumulators (bias
    included); `attrs` the node's format attributes (Lmax, LutBits, AShift, BShift, MoveFracBits,
    ProdShift, AccBits); luts [2, 2^LutBits]; thresholds [levels]. Returns frames [N, C, Lmax],
    the valid frame count [N] and the overflow flag [N], all int64.
    """
    f = np.asarray(features, dtype=np.int64)
    n, c, t = f.shape
    lmax, one = int(attrs["Lmax"]), 2 ** int(attrs["MoveFracBits"])
    half = 2 ** (int(attrs["LutBits"]) - 1)
    luts = np.asarray(luts, dtype=np.int64).reshape(2, 2 * half)

    def lookup(row: int, acc, shift: int) -> np.ndarray:
        # floor(acc / 2^shift) clipped to the table, centred: the arithmetic shift, clip and offset
        k = np.clip(np.floor_divide(np.asarray(acc, dtype=np.int64), 2**shift), -half, half - 1) + half
        return luts[row][k]

    w = lookup(0, a, int(attrs["AShift"]))  # importance, [N, T]
    m = lookup(1, b, int(attrs["BShift"]))  # move, [N, T]
    if f.size and int(w.max()) * int(f.max()) * one * t >= 2**62:
        raise FlowError("dynamic pool: the products and their sums do not fit the reference's 64-bit integers")
    # Positions: the running sum of moves saturates at Lmax·2^F; moves are ≥ 0, so every prefix
    # saturates exactly where its total passes the cap: min(cumulative sum, cap).
    pos = np.minimum(np.cumsum(m, axis=1), lmax * one)
    j, phi = np.divmod(pos, one)  # frame index and the fraction past it (F fractional bits)
    wf = w[:, None, :] * f  # [N, C, T]
    drop = 2 ** int(attrs["ProdShift"])
    rows, chans = np.arange(n)[:, None, None], np.arange(c)[None, :, None]
    frame = j[:, None, :]
    acc = np.zeros((n, c, lmax + 2), dtype=np.int64)  # j ≤ Lmax, so frames j and j + 1 both fit
    np.add.at(acc, (rows, chans, frame), (wf * (one - phi)[:, None, :]) // drop)
    np.add.at(acc, (rows, chans, frame + 1), (wf * phi[:, None, :]) // drop)
    # The accumulator saturates; its terms are ≥ 0, so in any order that is min(total, 2^AccBits − 1).
    acc = np.minimum(acc[:, :, :lmax], 2 ** int(attrs["AccBits"]) - 1)
    # Multi-threshold: the number of thresholds ≤ acc (sorting them does not change the count).
    out = np.searchsorted(np.sort(np.asarray(thresholds, dtype=np.int64)), acc, side="right").astype(np.int64)
    needed = j[:, -1] + 2
    count = np.minimum(needed, lmax)
    out = np.where(np.arange(lmax)[None, None, :] < count[:, None, None], out, 0)  # frames past the count are 0
    return out, count, (needed > lmax).astype(np.int64)


def _dynamic_pool_q(node, attrs: dict, f: np.ndarray, acc: np.ndarray):
    """A `DynamicPoolQ` node on real inputs: the integers its interface defines, pooled, back to reals."""
    f_int = _integers(node.name, f, np.float64(attrs["FeatureScale"]))
    ab = _integers(node.name, acc, np.asarray(attrs["AccScale"], dtype=np.float64)[None, :, None])
    ab = ab + np.asarray(attrs["Bias"], dtype=np.int64)[None, :, None]
    frames, count, overflow = dynamic_pool_frames(f_int, ab[:, 0], ab[:, 1], attrs, attrs["Luts"], attrs["Thresholds"])
    return frames * np.float64(attrs["OutScale"]), count, overflow


def evaluate_qonnx(model: ModelWrapper, signal: np.ndarray) -> dict[str, np.ndarray]:
    """Every tensor of the graph for input [N, 1, L] (float64)."""
    values = {model.graph.input[0].name: np.asarray(signal, dtype=np.float64)}
    for init in model.graph.initializer:
        values[init.name] = model.get_initializer(init.name).astype(np.float64)
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        ins = [values[i] for i in node.input if i]
        if node.op_type == "Quant":
            rounding = attrs.get("rounding_mode", b"ROUND")
            out = _quant(node.name, *ins[:4], attrs.get("signed", 1), attrs.get("narrow", 0),
                         rounding.decode() if isinstance(rounding, bytes) else rounding)
        elif node.op_type == "Conv":
            out = _conv1d(ins[0], ins[1], list(attrs.get("pads", [0, 0])), attrs.get("strides", [1])[0],
                          attrs.get("dilations", [1])[0], attrs.get("group", 1))
            if len(ins) > 2:
                out = out + ins[2][None, :, None]
        elif node.op_type == "BatchNormalization":
            x, gamma, beta, mean, var = ins
            eps = attrs.get("epsilon", 1e-5)
            out = (x - mean[None, :, None]) / np.sqrt(var[None, :, None] + eps) * gamma[None, :, None] + beta[None, :, None]
        elif node.op_type == "Relu":
            out = np.maximum(ins[0], 0.0)
        elif node.op_type == "Add":
            out = ins[0] + ins[1]
        elif node.op_type == "Clip":
            low = ins[1] if len(node.input) > 1 and node.input[1] else -np.inf
            high = values[node.input[2]] if len(node.input) > 2 and node.input[2] else np.inf
            out = np.minimum(np.maximum(ins[0], low), high)
        elif node.op_type == "Sigmoid":
            out = 1.0 / (1.0 + np.exp(-ins[0]))
        elif node.op_type == "Mul":
            out = ins[0] * ins[1]
        elif node.op_type == "DynamicPoolQ":
            out, values[f"{node.output[0]}_count"], values[f"{node.output[0]}_overflow"] = _dynamic_pool_q(node, attrs, *ins)
        else:
            raise FlowError(f"{node.name} ({node.op_type}): not supported by the float64 reference")
        values[node.output[0]] = out
    return values
