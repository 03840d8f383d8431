"""The cost model in differentiable form, for the architecture search (DESIGN §7, §8).

A searched layer chooses among candidate ops with probabilities p (a softmax or Gumbel-softmax
of its architecture logits). Its expected cost is Σ_op p(op)·cost(op), linear in p, so the
gradient reaches the logits exactly; the candidates' costs are constants computed once by the
same per-op estimates folding uses (`flow.hw.estimate`, through `flow.hw.fold`'s units) with
the target's calibration factors. Metrics (columns): `METRICS` = lut, bram18, dsp, cycles
(cycles per chunk of the layer's slowest node).

    costs = candidate_costs(cands, in_channels=48, in_bits=4, frames=1400, target="pynq-z2",
                            cycles_target=600_000)          # [n_ops, 4], constants
    per_layer = torch.stack([expected_cost(softmax(alpha_l), costs_l) for ...])  # [L, 4]
    loss = ctc + lam * budget_penalty(network_cost(per_layer), budget_vector("pynq-z2"))

A candidate is folded to its cheapest PE/SIMD meeting `cycles_target` (its fastest folding if it
cannot; the cycles column then exceeds the target and the penalty sees it), or left at its
least-resource folding when no target is given.
"""
from dataclasses import dataclass, fields

import numpy as np
import torch

from flow.errors import FlowError
from flow.hw import fold as Fo

METRICS = ("lut", "bram18", "dsp", "cycles")
FREE_OPS = ("identity", "zero")


def expected_cost(probs: torch.Tensor, costs: torch.Tensor) -> torch.Tensor:
    """Σ_i p_i · cost_i: probs [n_candidates], costs [n_candidates, n_metrics] → [n_metrics]."""
    if probs.dim() != 1 or costs.dim() != 2 or costs.shape[0] != probs.shape[0]:
        raise ValueError(f"expected probs [n] and costs [n, m]; got {tuple(probs.shape)} and {tuple(costs.shape)}")
    return probs.to(costs.dtype) @ costs


def network_cost(per_layer: torch.Tensor, cycles_tau: float | None = None) -> torch.Tensor:
    """Layers [L, METRICS] → network [METRICS]: resources add; cycles are the slowest layer's
    (the dataflow throughput bound), a hard max or, with `cycles_tau`, τ·logsumexp(c/τ)."""
    if per_layer.dim() != 2 or per_layer.shape[1] != len(METRICS):
        raise ValueError(f"expected [layers, {len(METRICS)}], got {tuple(per_layer.shape)}")
    k = METRICS.index("cycles")
    res = per_layer[:, :k].sum(0)
    cyc = per_layer[:, k]
    cyc = cyc.max() if cycles_tau is None else cycles_tau * torch.logsumexp(cyc / cycles_tau, 0)
    return torch.cat([res, cyc.reshape(1), per_layer[:, k + 1:].sum(0)])


def budget_vector(target, headroom: float = 0.15, cycles_target: float | None = None,
                  dtype=torch.float64) -> torch.Tensor:
    """The budget per metric: target resources × (1 − headroom); cycles = the target (inf: none)."""
    from flow.hw.targets import Target, load_target

    target = target if isinstance(target, Target) else load_target(target)
    values = [target.resources[m] * (1 - headroom) for m in METRICS if m != "cycles"]
    values.insert(METRICS.index("cycles"), float("inf") if cycles_target is None else float(cycles_target))
    return torch.tensor(values, dtype=dtype)


def budget_penalty(expected: torch.Tensor, budget: torch.Tensor, sharpness: float | None = None) -> torch.Tensor:
    """Σ_metric relu(expected/budget − 1), over metrics with a finite positive budget; with
    `sharpness` s, the smooth softplus(s·x)/s instead, which still pulls below the budget."""
    use = torch.isfinite(budget) & (budget > 0)
    x = expected[use] / budget[use].to(expected.dtype) - 1
    if sharpness is None:
        return torch.relu(x).sum()
    return (torch.nn.functional.softplus(sharpness * x) / sharpness).sum()


# ---------------------------------------------------------------- candidate costs

@dataclass(frozen=True)
class Candidate:
    """One op of a searched layer: `conv` (dense; `pool` is a strided conv), `separable`
    (depthwise then pointwise, as RUBICALL's blocks) or `identity`/`zero` (free)."""
    type: str
    channels: int = 0
    kernel: int = 1
    weight_bits: int = 8
    act_bits: int = 8
    stride: int = 1
    dilation: int = 1

    @classmethod
    def of(cls, c) -> "Candidate":
        if isinstance(c, cls):
            return c
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in dict(c).items() if k in names})


def _window(prefix, channels, kernel, stride, dilation, bits, frames, uram):
    """FMPadding + sliding window parameters of a 'same'-padded conv (flow.nn.layers)."""
    pad = dilation * (kernel - 1) // 2
    padded = frames + 2 * pad
    span = (kernel - 1) * dilation + 1
    ofm = (padded - span) // stride + 1
    pad_node = (f"{prefix}_pad", dict(channels=channels, img_dim=frames, pad=(pad, pad), bits=bits)) if pad else None
    swg = (f"{prefix}_swg", dict(channels=channels, kernel=kernel, ofm_dim=ofm, bits=bits, stride=stride,
                                 dilation=dilation, uram=uram))
    return pad_node, swg, ofm


def layer_units(candidate, *, in_channels: int, in_bits: int, frames: int, in_signed: bool = False,
                uram: bool = False, dsp_port_bits: int = Fo.E.DSP_PORT_BITS) -> list:
    """The folding units (`flow.hw.fold.Unit`) of one candidate, as the lowering would emit it."""
    c = Candidate.of(candidate)
    if c.type in FREE_OPS:
        return []
    if c.type not in ("conv", "pool", "separable") or c.channels < 1 or c.kernel < 1:
        raise FlowError(f"candidate {c}: type must be conv, pool, separable, identity or zero, "
                        "with channels and kernel ≥ 1")
    windowed = c.kernel > 1 or c.stride > 1
    units = []
    if c.type == "separable":
        pad, swg, t = _window("dw", in_channels, c.kernel, c.stride, c.dilation, in_bits, frames, uram)
        vv = dict(channels=in_channels, kernel=c.kernel, frames=t, weight_bits=c.weight_bits, in_bits=in_bits,
                  out_bits=c.act_bits, in_signed=in_signed, uram=uram)
        units.append(Fo.window_unit(swg, ("dw", "VVAU", vv), pad) if windowed else Fo.single_unit("dw", "VVAU", vv))
        pw = dict(mw=in_channels, mh=c.channels, frames=t, weight_bits=c.weight_bits, in_bits=c.act_bits,
                  out_bits=c.act_bits, in_signed=True, uram=uram, dsp_port_bits=dsp_port_bits)
        units.append(Fo.single_unit("pw", "MVAU", pw))
        return units
    pad, swg, t = _window("conv", in_channels, c.kernel, c.stride, c.dilation, in_bits, frames, uram) \
        if windowed else (None, None, frames)
    mv = dict(mw=c.kernel * in_channels, mh=c.channels, frames=t, weight_bits=c.weight_bits, in_bits=in_bits,
              out_bits=c.act_bits, in_signed=in_signed, uram=uram, dsp_port_bits=dsp_port_bits)
    units.append(Fo.window_unit(swg, ("conv", "MVAU", mv), pad) if windowed else Fo.single_unit("conv", "MVAU", mv))
    return units


def candidate_costs(candidates, *, in_channels: int, in_bits: int, frames: int, target, calibration=None,
                    cycles_target: float | None = None, in_signed: bool = False, headroom: float = 0.15,
                    dtype=torch.float64) -> torch.Tensor:
    """Costs [n_candidates, METRICS] of a layer's candidates (see module docstring). `calibration`:
    a Calibration, or None for the target's stored factors."""
    from flow.hw.calibration import load_calibration
    from flow.hw.targets import Target, load_target

    target = target if isinstance(target, Target) else load_target(target)
    calibration = load_calibration(target.name) if calibration is None else calibration
    budget = Fo.budget_of(target, headroom)
    uram = target.resources.get("uram", 0) > 0
    rows = []
    for cand in candidates:
        res, cycles = np.zeros(len(Fo.RES)), 0.0
        for unit in layer_units(cand, in_channels=in_channels, in_bits=in_bits, frames=frames, in_signed=in_signed,
                                uram=uram, dsp_port_bits=Fo.dsp_port_bits(target)):
            unit.evaluate(calibration)
            i = None if cycles_target is None else Fo.cheapest(unit, cycles_target, budget)
            if i is None and cycles_target is not None:
                i = int(np.argmin(unit.cycles))  # cannot meet the target: its fastest folding
            if i is None:
                i = Fo.cheapest(unit, float("inf"), budget)
            res += unit.res[i]
            cycles = max(cycles, float(unit.cycles[i]))
        row = dict(zip(Fo.RES, res)) | {"cycles": cycles}
        rows.append([row[m] for m in METRICS])
    return torch.tensor(rows, dtype=dtype).reshape(len(rows), len(METRICS))
