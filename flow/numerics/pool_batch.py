"""Fixed-point dynamic pooling for a whole batch at once (DESIGN §6): the integers of the streaming
reference `flow.numerics.dynamic_pool.dynamic_pool_int`, without its per-sample loop.

Equal to the streaming form because every term is ≥ 0: the saturating position is
min(Σ moves, cap), the saturating accumulators are min(Σ terms, acc_max) in any order, and a
frame that no input reaches (a skipped frame, or one past the last position) sums to 0, which
every threshold (≥ 1) maps to 0. Frames at or past Lmax are dropped; that is the overflow.
"""
import torch

from flow.numerics.dynamic_pool import DynamicPoolFormat, lut_index


def pool_int_batch(f_int: torch.Tensor, w_int: torch.Tensor, m_int: torch.Tensor, fmt: DynamicPoolFormat,
                   thresholds: torch.Tensor, width: int | None = None):
    """Features f [N, C, T], importances w and moves m [N, T] (int64), thresholds [levels] or
    [C, levels] → (out [N, C, width], count [N], overflow [N], frame index j [N, T], fraction φ [N, T]).

    `width` defaults to Lmax; frames past `width` are dropped.
    """
    pos = torch.cumsum(m_int, dim=1).clamp(max=fmt.pos_cap)
    j = pos >> fmt.move_frac_bits
    phi = pos & ((1 << fmt.move_frac_bits) - 1)
    wf = f_int * w_int[:, None, :]
    t0 = (wf * ((1 << fmt.move_frac_bits) - phi)[:, None, :]) >> fmt.prod_shift
    t1 = (wf * phi[:, None, :]) >> fmt.prod_shift
    width = fmt.lmax if width is None else width
    n, c, _ = f_int.shape
    full = max(width, int(j.max()) + 2)
    idx = j[:, None, :].expand(-1, c, -1)
    acc = torch.zeros(n, c, full, dtype=torch.int64).scatter_add_(2, idx, t0).scatter_add_(2, idx + 1, t1)
    acc = acc[..., :width].clamp(max=fmt.acc_max)
    thresholds = torch.as_tensor(thresholds, dtype=torch.int64)
    if thresholds.ndim == 2 and bool((thresholds == thresholds[:1]).all()):
        thresholds = thresholds[0]  # one row for every channel (how the lowering writes them)
    if thresholds.ndim == 1:
        out = torch.searchsorted(thresholds.contiguous(), acc.contiguous(), right=True)
    else:  # per channel: [C, levels] against [C, N·width]
        per_channel = acc.permute(1, 0, 2).reshape(c, -1).contiguous()
        out = torch.searchsorted(thresholds.contiguous(), per_channel, right=True).reshape(c, n, -1).permute(1, 0, 2)
    count = j[:, -1] + 2
    return out, count.clamp(max=fmt.lmax), count > fmt.lmax, j, phi


def dynamic_pool_batch(features: torch.Tensor, a_int: torch.Tensor, b_int: torch.Tensor, fmt: DynamicPoolFormat,
                       luts, thresholds) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`dynamic_pool_int` of a batch: features [N, C, T] (unsigned), predictor accumulators a, b
    [N, T], tables [2, 2^K], thresholds [levels] or [C, levels] → (out [N, C, Lmax], count [N],
    overflow [N]), all int64."""
    luts = torch.as_tensor(luts, dtype=torch.int64)
    w = luts[0][lut_index(torch.as_tensor(a_int, dtype=torch.int64), fmt.lut_bits, fmt.a_shift)]
    m = luts[1][lut_index(torch.as_tensor(b_int, dtype=torch.int64), fmt.lut_bits, fmt.b_shift)]
    out, count, overflow, _, _ = pool_int_batch(torch.as_tensor(features, dtype=torch.int64), w, m, fmt, thresholds)
    return out, count, overflow.to(torch.int64)
