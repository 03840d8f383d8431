"""The search's hardware term: flow.hw.cost tables for every slot, and the budget they answer to.

A slot's cost table holds, for every combination of its choices (op × width × weight bits ×
activation bits), the LUT/BRAM/DSP/cycles of that layer folded by the build's own estimates to
its cheapest folding that meets the throughput target (flow.hw.cost.candidate_costs, with the
target's calibration). Its expected cost under the architecture distribution is
Σ p(op)·p(width)·p(w bits)·p(a bits)·cost, linear in each factor's probabilities, so the
gradient reaches every logit.

What a layer costs also depends on what feeds it (its input channels and input bit-width): the
table of slot l is conditioned on the current derived (argmax) choice of the slots before it
(identity slots pass their input on). For the derived architecture, whose probabilities are one-hot,
the network cost is therefore exactly the sum of its layers' build estimates; while the search
moves, a slot's table is recomputed (and memoised) when an earlier argmax changes.

The network cost adds the fixed stem and head (the head's input is the last live width and
bit-width) to the slots; the FIFOs and width converters the build inserts between nodes are not
modelled per layer, so `reserve` keeps a fraction of the budget for them.
"""
import math

import numpy as np
import torch

from flow.data.chunks import new_samples
from flow.errors import FlowError
from flow.hw import fold as Fo
from flow.hw.calibration import load_calibration
from flow.hw.cost import METRICS, Candidate, budget_penalty, budget_vector, candidate_costs, expected_cost, network_cost
from flow.hw.targets import Target, load_target
from flow.search.space import IDENTITY, SearchSpace, Slot

HEAD_OUT_BITS = 32  # the head emits accumulators; its output width only sizes flip-flops, which the search does not count


def cycles_for(effective_samples_per_s: float, chunk_len: int, stride: int, clock_mhz: float) -> int:
    """Cycles per chunk that give `effective_samples_per_s` of new signal: chunks/s = effective rate /
    the chunk's new samples (the overlap is signal seen twice, as the build's report counts it)."""
    fps = effective_samples_per_s / new_samples(chunk_len, stride)
    return math.floor(clock_mhz * 1e6 / fps)


def effective_rate(cycles: float, chunk_len: int, stride: int, clock_mhz: float) -> float:
    """Effective samples/s of a design whose slowest node takes `cycles` per chunk."""
    return clock_mhz * 1e6 / cycles * new_samples(chunk_len, stride) if cycles > 0 else math.inf


def candidate(slot: Slot, op: int, width: int, wbits: int, abits: int) -> Candidate:
    kind, kernel = slot.ops[op]
    if (kind, kernel) == IDENTITY:
        return Candidate("identity")
    return Candidate(kind, channels=slot.channels[width], kernel=kernel, weight_bits=slot.weight_bits[wbits],
                     act_bits=slot.act_bits[abits])


class CostModel:
    """Cost tables of a search space on one target at one throughput target (see module docstring)."""

    def __init__(self, space: SearchSpace, target, *, chunk_len: int, samples_per_s: float | None = None,
                 headroom: float = 0.15, reserve: float = 0.05, calibration=None):
        self.space = space
        self.target = target if isinstance(target, Target) else load_target(target)
        self.calibration = load_calibration(self.target.name) if calibration is None else calibration
        self.chunk_len, self.headroom = chunk_len, headroom
        self.frames = chunk_len // space.stride
        self.cycles_target = None if samples_per_s is None else \
            cycles_for(samples_per_s, chunk_len, space.stride, self.target.clock_mhz)
        scale = torch.tensor([1 - reserve if m != "cycles" else 1.0 for m in METRICS], dtype=torch.float64)
        self.budget = budget_vector(self.target, headroom, self.cycles_target) * scale
        self._memo: dict = {}
        self._tables: dict = {}

    # -- constants computed once per (candidate, context) -----------------------------------
    def costs(self, cands, in_channels: int, in_bits: int, frames: int, in_signed: bool = False) -> torch.Tensor:
        """[n, METRICS] for candidates in one context, each computed once (`candidate_costs`)."""
        key = lambda c: (c, in_channels, in_bits, frames, in_signed)  # noqa: E731
        todo = list(dict.fromkeys(c for c in cands if key(c) not in self._memo))
        if todo:
            rows = candidate_costs(todo, in_channels=in_channels, in_bits=in_bits, frames=frames, target=self.target,
                                   calibration=self.calibration, cycles_target=self.cycles_target,
                                   in_signed=in_signed, headroom=self.headroom)
            self._memo.update({key(c): row for c, row in zip(todo, rows)})
        return torch.stack([self._memo[key(c)] for c in cands])

    def slot_table(self, slot: Slot, in_width: int, in_bits: int) -> torch.Tensor:
        """[n_op · n_width · n_wbits · n_abits, METRICS], rows in C order of the factors."""
        key = (slot, in_width, in_bits)
        if key not in self._tables:
            shape = [len(v) for v in slot.factors.values()]
            cands = [candidate(slot, *idx) for idx in np.ndindex(*shape)]
            self._tables[key] = self.costs(cands, in_width, in_bits, self.frames)
        return self._tables[key]

    def stem_cost(self) -> torch.Tensor:
        s = self.space.stem
        stem = Candidate("conv", channels=s.channels, kernel=s.kernel, weight_bits=s.weight_bits, act_bits=s.act_bits,
                         stride=s.stride, dilation=s.dilation)
        return self.costs([stem], 1, self.space.input_bits, self.chunk_len, in_signed=True)[0]

    def head_cost(self, in_width: int, in_bits: int) -> torch.Tensor:
        """The head: a pointwise MVAU without activation (its accumulators are the logits)."""
        key = ("head", in_width, in_bits)
        if key not in self._memo:
            unit = Fo.single_unit("head", "MVAU", dict(
                mw=in_width, mh=self.space.classes, frames=self.frames, weight_bits=self.space.head_weight_bits,
                in_bits=in_bits, out_bits=HEAD_OUT_BITS, no_activation=True, in_signed=False,
                uram=self.target.resources.get("uram", 0) > 0, dsp_port_bits=Fo.dsp_port_bits(self.target)))
            unit.evaluate(self.calibration)
            budget = Fo.budget_of(self.target, self.headroom)
            i = Fo.cheapest(unit, math.inf if self.cycles_target is None else self.cycles_target, budget)
            i = int(np.argmin(unit.cycles)) if i is None else i
            row = dict(zip(Fo.RES, unit.res[i])) | {"cycles": float(unit.cycles[i])}
            self._memo[key] = torch.tensor([row[m] for m in METRICS], dtype=torch.float64)
        return self._memo[key]

    def check_fixed(self) -> None:
        """Refuse a target the fixed stem cannot meet: no choice of the slots could help."""
        stem = self.stem_cost()
        k = METRICS.index("cycles")
        if self.cycles_target is not None and stem[k] > self.cycles_target:
            raise FlowError(f"{self.space.source}: the stem alone takes {stem[k]:,.0f} cycles per chunk at its fastest "
                            f"folding, above the {self.cycles_target:,} the throughput target allows on "
                            f"{self.target.name}; lower --samples-per-s or change the stem")
        over = [f"{m} {stem[i]:,.0f} > {self.budget[i]:,.0f}" for i, m in enumerate(METRICS[:k]) if stem[i] > self.budget[i]]
        if over:
            raise FlowError(f"{self.space.source}: the stem alone exceeds the budget on {self.target.name} "
                            f"({', '.join(over)}); lower --samples-per-s or --headroom, or change the stem")

    # -- the network ---------------------------------------------------------------------
    def contexts(self, choices: list[dict]) -> list[tuple[int, int]]:
        """(input width, input bits) of every slot under the derived choices, then the head's."""
        width, bits = self.space.stem.channels, self.space.stem.act_bits
        out = []
        for slot, ch in zip(self.space.slots, choices):
            out.append((width, bits))
            if slot.ops[ch["op"]] != IDENTITY:
                width, bits = slot.channels[ch["channels"]], slot.act_bits[ch["act_bits"]]
        return out + [(width, bits)]

    def layer_costs(self, probs: list[torch.Tensor], choices: list[dict]) -> torch.Tensor:
        """[stem + slots + head, METRICS]: expected cost of every slot under its joint probabilities
        `probs[l]` (flattened like its table), the stem and head as constants."""
        ctx = self.contexts(choices)
        rows = [self.stem_cost()]
        rows += [expected_cost(p, self.slot_table(slot, *c)) for p, slot, c in zip(probs, self.space.slots, ctx)]
        rows.append(self.head_cost(*ctx[-1]))
        return torch.stack(rows)

    def network(self, probs, choices) -> torch.Tensor:
        return network_cost(self.layer_costs(probs, choices))

    def penalty(self, probs, choices, sharpness: float | None = 20.0) -> torch.Tensor:
        return budget_penalty(self.network(probs, choices), self.budget, sharpness)

    def excess(self, cost: torch.Tensor) -> float:
        """The largest relative excess of a network cost over the budget (negative: the margin left),
        over the metrics with a finite budget."""
        use = self._budgeted()
        return float((cost[use] / self.budget[use] - 1).max())

    def _budgeted(self) -> torch.Tensor:
        """The metrics with a finite positive budget."""
        return torch.isfinite(self.budget) & (self.budget > 0)

    def _area_shares(self, cost: torch.Tensor) -> torch.Tensor:
        """A network cost / budget for each area metric (every one but cycles) with a finite positive budget."""
        use = torch.tensor([m != "cycles" for m in METRICS]) & self._budgeted()
        return cost[use] / self.budget[use].to(cost.dtype)

    def area_share(self, cost: torch.Tensor) -> float:
        """The largest share of its budget that a network cost takes of any area metric (LUT, BRAM18, DSP)."""
        return float(self._area_shares(cost).max())

    def area_use(self, cost: torch.Tensor) -> torch.Tensor:
        """Σ over the area metrics of a network cost / budget; of the expected cost, linear in the
        probabilities, so its pull on the logits is as strong far below the budget as near it (the
        softplus penalty's fades there)."""
        return self._area_shares(cost).sum()

    def one_hot(self, choices: list[dict]) -> list[torch.Tensor]:
        """The derived architecture's joint probabilities (one-hot rows of the tables)."""
        out = []
        for slot, ch in zip(self.space.slots, choices):
            shape = [len(v) for v in slot.factors.values()]
            p = torch.zeros(int(np.prod(shape)), dtype=torch.float64)
            p[np.ravel_multi_index([ch[k] for k in slot.factors], shape)] = 1.0
            out.append(p)
        return out

    def summary(self, cost: torch.Tensor) -> dict:
        """A network cost as plain numbers: resources, their board fractions, throughput."""
        row = dict(zip(METRICS, (float(v) for v in cost)))
        res = self.target.resources
        return row | {f"{m}_fraction": row[m] / res[m] for m in METRICS if m != "cycles" and res.get(m)} | {
            "effective_samples_per_s": effective_rate(row["cycles"], self.chunk_len, self.space.stride,
                                                      self.target.clock_mhz)}
