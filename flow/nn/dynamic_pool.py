"""Dynamic pooling (Heron/Osprey, DESIGN §6): downsampling at a learned, data-dependent rate.

Float layer (training). Features `f_i` come from the layer's own conv (conv → BatchNorm →
ReLU) or are the input itself; a small predictor (conv → BatchNorm → ReLU → pointwise conv
to two channels) gives `a_i, b_i`. Importance `w_i = sigmoid(a_i)`, move
`m_i = sigmoid(b_i)·r`, positions `p_i = Σ_{k≤i} m_k` and

    out[j] = Σ_i w_i f_i · max(0, 1 − |p_i − j|),

i.e. input i adds `w_i f_i (1 − frac p_i)` to frame `⌊p_i⌋` and `w_i f_i frac p_i` to frame
`⌊p_i⌋ + 1`. Row lengths are `⌊p_T⌋ + 2`. In training `r = 1/(norm_target · mean(sigmoid b))`
over the batch, so the mean move is `1/norm_target` (about `norm_target` samples per
frame); an exponential moving average of `r` (buffer `move_scale`, saved in the state dict
like BatchNorm statistics) is used at inference. The gradient of `p_i` only reaches the last
`TRUNCATE` moves (the forward value is the full sum): a long cumulative sum would otherwise
let every early move receive the gradients of all later frames.

Fixed point (inference and quantization-aware training; what the golden op `DynamicPool`,
the HLS kernel and the RTL twin compute). All widths are the fields of `DynamicPoolFormat`,
chosen by `choose_format` from the trained ranges. Per input step i (T steps, C channels):

    f_i          unsigned features, `feature_bits` wide (a quantized ReLU's integers)
    a_i, b_i     signed integer accumulators of the predictor's pointwise layer (bias included)
    k(a)         = clip(a >> shift, −2^(K−1), 2^(K−1) − 1) + 2^(K−1)      K = lut_bits,
                   shift = a_shift for a and b_shift for b (arithmetic shift = floor)
    w_i          = LUT_w[k(a_i)]: unsigned, Fw = weight_frac_bits fractional bits, no integer
                   bit, so w ∈ [0, 2^Fw − 1]  (entry = round(sigmoid(centre of the bin)·2^Fw))
    m_i          = LUT_m[k(b_i)]: unsigned, F = move_frac_bits fractional bits and
                   I = move_int_bits integer bits; the renormalisation r is folded into the
                   table (entry = round(sigmoid(centre)·r·2^F))
    P_i          = min(P_{i−1} + m_i, Lmax·2^F): the unsigned position, F + bitlen(Lmax) bits;
                   it saturates and never wraps (moves are ≥ 0, so this is min(Σ m, cap))
    j_i, φ_i     = P_i >> F, P_i mod 2^F; resampling weights (2^F − φ_i, φ_i), F fractional bits
    acc[j]      += (w_i f_i (2^F − φ_i)) >> S ;  acc[j+1] += (w_i f_i φ_i) >> S
                   S = prod_shift; acc is unsigned, acc_bits wide, saturating (the terms are
                   ≥ 0, so this is min(Σ terms, 2^acc_bits − 1) in any order)
    out[j]       = #{n : thresholds[c, n] ≤ acc[j, c]}, unsigned out_bits (thresholds ≥ 1,
                   so an empty or skipped frame is 0)
    count        = min(j_T + 2, Lmax);  overflow = j_T + 2 > Lmax;  frames ≥ count are 0.

Streaming (`dynamic_pool_int`): positions only grow, so two accumulators (frames j, j+1)
suffice; frame j is emitted as soon as a position passes it, skipped frames (a move > 1)
are emitted as 0, and frames at or past Lmax are dropped (that is the overflow).

In quantization-aware training the module computes exactly these integers in the forward
pass; gradients pass by straight-through estimators (the float sigmoid, move and
resampling gradients, and an LSQ-style gradient for the output scale).
"""
import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from flow.nn import layers as L
from flow.numerics.dynamic_pool import (DynamicPoolFormat, build_luts, choose_format, lut_index, qonnx_node_attributes,
                                        requant_thresholds)
from flow.numerics.pool_batch import pool_int_batch as pool_int_torch  # the integer reference vectorised in torch

TRUNCATE = 20            # moves that a position's gradient reaches
EMA_MOMENTUM = 0.01      # weight of the current batch in the move-scale average (Heron)


# ---------------------------------------------------------------------------------------
# float semantics


def truncated_cumsum(moves: torch.Tensor, window: int | None = TRUNCATE) -> torch.Tensor:
    """Cumulative sum over the last axis whose gradient reaches only the last `window` terms.

    The forward value is exactly `cumsum(moves)`: the truncated part enters as
    `recent − recent.detach()`, which is exactly 0.0 in the forward pass.
    """
    full = torch.cumsum(moves, dim=-1)
    if window is None or moves.shape[-1] <= window or not moves.requires_grad:
        return full
    lagged = F.pad(full[..., :-window], (window, 0))
    recent = full - lagged  # Σ of moves i−window+1 .. i
    return full.detach() + (recent - recent.detach())


def _resample(values: torch.Tensor, index: torch.Tensor, frac: torch.Tensor, width: int) -> torch.Tensor:
    """values [N, C, T] added with weight 1−frac to frame index and frac to index+1 → [N, C, width].

    Contributions to frames at or past `width` are dropped.
    """
    n, c, _ = values.shape
    full = max(width, int(index.max()) + 2) if index.numel() else width
    idx = index[:, None, :].expand(-1, c, -1)
    out = values.new_zeros(n, c, full)
    out = out.scatter_add(2, idx, values * (1 - frac)[:, None, :])
    out = out.scatter_add(2, idx + 1, values * frac[:, None, :])
    return out[..., :width]


def dynamic_pool(features: torch.Tensor, weights: torch.Tensor, moves: torch.Tensor,
                 lmax: int | None = None, truncate: int | None = TRUNCATE) -> tuple[torch.Tensor, torch.Tensor]:
    """Triangular resampling: features [N, C, T], weights and moves [N, T] → (out [N, C, L], lengths [N]).

    Lengths are ⌊p_T⌋ + 2; L is the batch maximum, or `lmax` (then lengths are clipped to it
    and contributions to later frames are dropped, as in the hardware).
    """
    positions = truncated_cumsum(moves, truncate)
    index = torch.floor(positions.detach()).long()
    lengths = index[:, -1] + 2
    width = int(lengths.max()) if lmax is None else int(lmax)
    out = _resample(features * weights[:, None, :], index, positions - index, width)
    return out, lengths.clamp(max=width)


def dynamic_pool_direct(features: torch.Tensor, weights: torch.Tensor, positions: torch.Tensor, width: int) -> torch.Tensor:
    """The defining formula out[j] = Σ_i w_i f_i max(0, 1 − |p_i − j|), dense (for tests; O(T·L))."""
    frames = torch.arange(width, dtype=positions.dtype)
    tri = torch.clamp(1 - (positions[:, :, None] - frames[None, None, :]).abs(), min=0)  # [N, T, L]
    return torch.einsum("nct,ntl->ncl", features * weights[:, None, :], tri)


# ---------------------------------------------------------------------------------------
# the layer


@dataclass
class FixedPointParams:
    """Everything the integer graph needs besides the two input streams."""
    fmt: DynamicPoolFormat
    luts: np.ndarray          # [2, 2^K] int64
    thresholds: np.ndarray    # [2^out_bits − 1] int64, the same for every channel
    feature_scale: float      # real value of one feature step
    acc_scale: tuple[float, float]  # real value of one step of a and b
    out_scale: float          # real value of one output step
    move_scale: float         # r folded into the move table


class DynamicPool(nn.Module):
    """Dynamic pooling layer: x [N, C_in, T] → (frames [N, C, L], lengths [N]).

    `frame_stride` sets the static frame budget Lmax = T // frame_stride used at inference
    (frames past it are dropped and counted in `last_overflow`); training pads to the batch
    maximum instead. Quantized (both bit-widths set) it computes the fixed-point integers.
    """

    def __init__(self, in_ch: int, channels: int, kernel: int = 3, *, norm_target: float = 3.0,
                 predictor_channels: int = 16, predictor_kernel: int = 9, weight_bits: int | None = None,
                 act_bits: int | None = None, frame_stride: int | None = None, feature_conv: bool = True,
                 lut_bits: int = 8, importance_bits: int = 8, move_frac_bits: int = 8, truncate: int | None = TRUNCATE,
                 momentum: float = EMA_MOMENTUM):
        super().__init__()
        if (weight_bits is None) != (act_bits is None):
            raise ValueError("DynamicPool: weight_bits and act_bits are both set (fixed point) or both None (float)")
        self.quantized = weight_bits is not None
        if not feature_conv and (self.quantized or in_ch != channels):
            raise ValueError("DynamicPool without its own conv is float only and keeps the input channels")
        self.norm_target, self.truncate, self.momentum = float(norm_target), truncate, momentum
        self.frame_stride = frame_stride
        self.act_bits = act_bits
        self.lut_bits, self.importance_bits, self.move_frac_bits = lut_bits, importance_bits, move_frac_bits
        if feature_conv:
            self.features = nn.Sequential(L.conv(in_ch, channels, kernel, weight_bits), L.batchnorm(channels),
                                          L.activation("relu", act_bits))
        else:
            self.features = nn.Identity()
        self.predictor = nn.Sequential(L.conv(in_ch, predictor_channels, predictor_kernel, weight_bits),
                                       L.batchnorm(predictor_channels), L.activation("relu", act_bits))
        self.predictor_out = L.conv(predictor_channels, 2, 1, weight_bits)
        # Start near uniform pooling: small predictor weights, w ≈ 0.5, mean move ≈ 1/norm_target (r ≈ 1).
        with torch.no_grad():
            self.predictor_out.weight.mul_(0.01)
        self.predictor_bias = nn.Parameter(torch.tensor([0.0, -math.log(self.norm_target - 1.0)]) if self.norm_target > 1
                                           else torch.tensor([0.0, 4.0]))
        self.register_buffer("move_scale", torch.ones(()))
        if self.quantized:
            self.out_scale = nn.Parameter(torch.tensor(L.RELU_INIT_MAX / ((1 << act_bits) - 1)))
        self.last_overflow = None
        self.export_attrs = None  # set by prepare_export

    @classmethod
    def from_spec(cls, in_ch: int, spec) -> "DynamicPool":
        return cls(in_ch, spec.channels, spec.kernel, norm_target=spec.norm_target,
                   predictor_channels=spec.predictor_channels, predictor_kernel=spec.predictor_kernel,
                   weight_bits=spec.weight_bits, act_bits=spec.act_bits, frame_stride=spec.stride,
                   lut_bits=spec.lut_bits, importance_bits=spec.importance_bits, move_frac_bits=spec.move_frac_bits)

    def budget(self, t_in: int) -> int | None:
        """Lmax for an input of t_in frames at inference (None: pad to the batch maximum)."""
        return None if self.training or not self.frame_stride else t_in // self.frame_stride

    def _renorm(self, sig_b: torch.Tensor) -> torch.Tensor:
        """r: from the batch in training (updating the average), the average at inference."""
        if not self.training:
            return self.move_scale
        r = (1.0 / (self.norm_target * sig_b.detach().mean())).detach()
        with torch.no_grad():
            self.move_scale.mul_(1 - self.momentum).add_(self.momentum * r)
        return r

    def forward(self, x, lmax: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = L.as_tensor(x)
        lmax = self.budget(x.shape[-1]) if lmax is None else lmax
        if torch.onnx.is_in_onnx_export():
            return self._export_forward(x, lmax)
        if self.quantized:
            res = self.forward_fixed(x, lmax)
            self.last_overflow = res["overflow"]
            return res["out"], res["lengths"]
        f = L.as_tensor(self.features(x))
        ab = L.as_tensor(self.predictor_out(L.as_tensor(self.predictor(x)))) + self.predictor_bias[None, :, None]
        w, sig_b = torch.sigmoid(ab[:, 0]), torch.sigmoid(ab[:, 1])
        moves = sig_b * self._renorm(sig_b)
        out, lengths = dynamic_pool(f, w, moves, lmax, self.truncate)
        full = torch.floor(torch.cumsum(moves.detach(), -1)[:, -1]).long() + 2
        self.last_overflow = full > out.shape[-1]
        return out, lengths

    # -- fixed point --------------------------------------------------------------------

    @staticmethod
    def _act_scale(act: nn.Module) -> torch.Tensor:
        return act.act_quant.scale().reshape(())

    def _scales(self):
        """Feature scale, predictor-input scale, quantized pointwise weights, accumulator scales
        of a and b (float64), integer bias and the accumulator bounds |a|, |b| ≤ bound."""
        f_scale = self._act_scale(self.features[-1]).detach()
        h_scale = self._act_scale(self.predictor[-1]).detach()
        qw = self.predictor_out.quant_weight()
        w_int = qw.int().detach().double()
        acc_scale = (h_scale * qw.scale.detach().reshape(2)).double()
        bias_int = torch.round(self.predictor_bias.detach().double() / acc_scale)
        bound = (w_int.abs().sum(dim=(1, 2)) * ((1 << self.act_bits) - 1) + bias_int.abs()).long()
        return f_scale, h_scale, w_int, acc_scale, bias_int, bound

    def _integer_parts(self, x: torch.Tensor):
        """Float (straight-through) and exact integer views of the features and of a, b."""
        f_scale, h_scale, w_int, acc_scale, bias_int, bound = self._scales()
        f = L.as_tensor(self.features(x))
        f_int = torch.round(f.detach() / f_scale).long()
        h = L.as_tensor(self.predictor(x))
        h_int = torch.round(h.detach() / h_scale).double()
        ab_int = torch.round(F.conv1d(h_int, w_int) + bias_int[None, :, None]).long()  # exact in float64
        ab_float = L.as_tensor(self.predictor_out(h)) + self.predictor_bias[None, :, None]
        ab = ab_float + ((ab_int.double() * acc_scale[None, :, None]).float() - ab_float).detach()
        return f, f_int, float(f_scale), ab, ab_int, tuple(float(s) for s in acc_scale), tuple(int(b) for b in bound)

    def integer_inputs(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """The two integer streams of the hardware node: features [N, C, T] and accumulators a, b [N, 2, T]."""
        with torch.no_grad():
            _, f_int, _, _, ab_int, _, _ = self._integer_parts(L.as_tensor(x))
        return f_int, ab_int

    def fixed_point_params(self, t_in: int, lmax: int | None = None, move_scale: float | None = None) -> FixedPointParams:
        """Format, tables and thresholds for chunks of t_in input frames (default: the trained move scale)."""
        if not self.quantized:
            raise ValueError("a float DynamicPool has no fixed-point form; set weight_bits and act_bits")
        with torch.no_grad():
            f_scale, _, _, acc_scale, _, bound = self._scales()
        r = float(self.move_scale) if move_scale is None else float(move_scale)
        return self._params(t_in, lmax, r, tuple(float(s) for s in acc_scale), tuple(int(b) for b in bound), float(f_scale))

    def _params(self, t_in, lmax, r, acc_scale, bound, f_scale) -> FixedPointParams:
        fmt = choose_format(t_in=t_in, feature_bits=self.act_bits, out_bits=self.act_bits, acc_scale=acc_scale,
                            acc_bound=bound, move_scale=r, lmax=lmax, lut_bits=self.lut_bits,
                            weight_frac_bits=self.importance_bits, move_frac_bits=self.move_frac_bits)
        out_scale = float(self.out_scale.detach().clamp(min=1e-8))
        return FixedPointParams(fmt, build_luts(fmt, acc_scale, r), requant_thresholds(fmt, f_scale, out_scale),
                                f_scale, acc_scale, out_scale, r)

    def forward_fixed(self, x: torch.Tensor, lmax: int | None = None) -> dict:
        """Fixed-point forward with straight-through gradients.

        Returns out [N, C, L] (= out_int · out_scale exactly), lengths, out_int, overflow, the
        float path `pooled` that carries the gradients, and the FixedPointParams used;
        L = lmax, or the batch maximum when lmax is None.
        """
        f, f_int, f_scale, ab, ab_int, acc_scale, bound = self._integer_parts(x)
        sig_a, sig_b = torch.sigmoid(ab[:, 0]), torch.sigmoid(ab[:, 1])
        r = self._renorm(sig_b)
        params = self._params(x.shape[-1], lmax, float(r), acc_scale, bound, f_scale)
        fmt = params.fmt
        luts = torch.from_numpy(params.luts)
        w_int = luts[0][lut_index(ab_int[:, 0], fmt.lut_bits, fmt.a_shift)]
        m_int = luts[1][lut_index(ab_int[:, 1], fmt.lut_bits, fmt.b_shift)]
        thresholds = torch.from_numpy(params.thresholds)
        if lmax is None:  # training: the batch maximum, with a cap no chunk reaches
            count = (torch.cumsum(m_int, 1)[:, -1].clamp(max=fmt.pos_cap) >> fmt.move_frac_bits) + 2
            width = int(count.clamp(max=fmt.lmax).max())
        else:
            width = fmt.lmax
        out_int, count, overflow, j, phi = pool_int_torch(f_int, w_int, m_int, fmt, thresholds, width)
        # straight-through float path: forward values are the fixed-point ones
        w = sig_a + (w_int.float() / (1 << fmt.weight_frac_bits) - sig_a).detach()
        move_float = sig_b * r
        m = move_float + (m_int.float() / (1 << fmt.move_frac_bits) - move_float).detach()
        p = truncated_cumsum(m, self.truncate)
        frac = phi.float() / (1 << fmt.move_frac_bits) + (p - p.detach())
        pooled = _resample(f * w[:, None, :], j, frac, width)
        scale = self.out_scale.clamp(min=1e-8)
        q = out_int.float()
        inside = (out_int < fmt.out_max).float()
        out = scale * (q + inside * (pooled / scale - (pooled / scale).detach()))
        return {"out": out, "lengths": count.clamp(max=width), "out_int": out_int, "overflow": overflow,
                "pooled": pooled, "params": params}

    # -- export --------------------------------------------------------------------------

    def export_attributes(self, t_in: int, lmax: int) -> dict:
        """Everything the exported `DynamicPoolQ` node carries (`flow.ir.ops.dynamic_pool`): the
        format, tables, requantization thresholds, the predictor's integer bias and the scales
        that turn the node's real-valued inputs back into integers."""
        params = self.fixed_point_params(t_in, lmax)
        with torch.no_grad():
            _, _, _, _, bias_int, _ = self._scales()
        return {"format": {k: int(v) for k, v in vars(params.fmt).items()},
                "luts": params.luts.reshape(-1).tolist(), "thresholds": params.thresholds.tolist(),
                "bias": [int(b) for b in bias_int], "feature_scale": params.feature_scale,
                "acc_scale": list(params.acc_scale), "out_scale": params.out_scale,
                "channels": int(self.features[0].weight.shape[0])}

    def _export_forward(self, x: torch.Tensor, lmax: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The traced form: the feature and predictor convolutions as ordinary layers, then one
        `DynamicPoolQ` node on the features and the predictor's bias-free accumulators. The node's
        attributes are computed before tracing (`prepare_export`): tracing sees no concrete scales."""
        attrs = self.export_attrs
        if attrs is None or attrs["format"]["lmax"] != lmax:
            raise ValueError("DynamicPool: call prepare_export(t_in) before exporting")
        f = L.as_tensor(self.features(x))
        acc = L.as_tensor(self.predictor_out(L.as_tensor(self.predictor(x))))
        out = torch.onnx.ops.symbolic("flow.ir.ops::DynamicPoolQ", (f, acc), qonnx_node_attributes(attrs),
                                      dtype=f.dtype, shape=(x.shape[0], attrs["channels"], lmax), version=1)
        return out, torch.full((x.shape[0],), lmax, dtype=torch.int64)

    def prepare_export(self, t_in: int) -> None:
        """Fix the exported node's attributes for chunks of t_in input frames (eval mode)."""
        lmax = self.eval().budget(t_in)
        if not self.quantized or lmax is None:
            raise ValueError("only a quantized DynamicPool with a frame budget (stride) can be exported")
        self.export_attrs = self.export_attributes(t_in, lmax)
