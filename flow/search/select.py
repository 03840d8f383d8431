"""The derived architecture: the most probable one that fits the budget and meets the throughput target.

Why not the argmax of every factor: the hardware term moves the expected cost to the budget, but
the argmax of a distribution that is still spread can be far cheaper than the expectation (the
reduced pynq-z2 run derived a 4k-LUT, one-layer model from a distribution whose expectation was
35k, reports/qabas/README.md) or far dearer. Deriving "the most probable architecture that fits"
uses the budget the search was given and the distribution it learned, both.

"Most probable" is over the sampled factor tuples: the product over slots of p(op)·p(width)·
p(w bits)·p(a bits), identity slots included (their other factors are sampled too, and cost
nothing). So with a budget that binds nothing it is the argmax of every factor, as before; summing
an identity slot's other factors out instead would favour identity whenever widths or bit-widths
are still undecided. The search is a beam over the slots in order, each state carrying its
accumulated resources, its slowest layer and the context (live width, bit-width) that prices the
next slot (flow.search.hwcost); states over budget are dropped as soon as they appear, since
resources only add up and cycles only grow. The cost of the returned architecture is the one
`CostModel.network` gives for it, i.e. the build's estimate.
"""
import numpy as np
import torch

from flow.hw.cost import METRICS
from flow.search.derive import OP_SHORT
from flow.search.hwcost import CostModel
from flow.search.space import IDENTITY

_K = METRICS.index("cycles")


def log_probs(net) -> list[dict[str, np.ndarray]]:
    """Per slot, per factor: log-softmax of the logits (a single choice: [0])."""
    out = []
    for i, slot in enumerate(net.space.slots):
        row = {}
        for f in slot.factors:
            logits = net.logits_of(i, f)
            row[f] = np.zeros(1) if logits is None else torch.log_softmax(logits.detach().cpu().double(), 0).numpy()
        out.append(row)
    return out


def factor_probabilities(net) -> list[dict[str, dict]]:
    """Per slot, per factor: {choice label: probability}, how sure the search ended (search.json)."""
    out = []
    for slot, row in zip(net.space.slots, log_probs(net)):
        labels = {f: [OP_SHORT[k] + (str(n) if k != "identity" else "") for k, n in v] if f == "op" else list(v)
                  for f, v in slot.factors.items()}
        out.append({f: {str(label): round(float(np.exp(lp)), 3) for label, lp in zip(labels[f], row[f])}
                    for f in slot.factors})
    return out


def _slot_candidates(slot, logp: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows of the slot's cost table, their log-probabilities, their factor indices [n, F]): every
    combination, identity once (its other factors at their most probable: the others cost the same
    and are less probable)."""
    shape = [len(v) for v in slot.factors.values()]
    combos = np.array(list(np.ndindex(*shape)))
    names = list(slot.factors)
    score = sum(logp[f][combos[:, j]] for j, f in enumerate(names))
    is_identity = np.array([slot.ops[o] == IDENTITY for o in combos[:, 0]])
    best = [int(np.argmax(logp[f])) for f in names[1:]]
    keep = ~is_identity | np.all(combos[:, 1:] == best, axis=1)
    rows = np.flatnonzero(keep)
    return rows, score[rows], combos[rows]


def most_probable_within_budget(costs: CostModel, logp: list[dict], beam: int = 256) -> list[dict] | None:
    """The most probable architecture (beam search, `beam` states per slot) whose network cost is
    within costs.budget on every metric, cycles included; None when no state survives."""
    space = costs.space
    budget = costs.budget.numpy()
    stem = costs.stem_cost().numpy()
    # states: score, choices so far, resources [_K], slowest cycles, (width, bits)
    states = [(0.0, [], stem[:_K], stem[_K], (space.stem.channels, space.stem.act_bits))]
    for slot, lp in zip(space.slots, logp):
        rows, scores, combos = _slot_candidates(slot, lp)
        names = list(slot.factors)
        parts = []  # (state, row, score) of every state's candidates that still fit
        tables = [costs.slot_table(slot, *ctx).numpy()[rows] for *_, ctx in states]
        for i, ((score, _, res, cyc, _), table) in enumerate(zip(states, tables)):
            ok = np.flatnonzero(np.all(res + table[:, :_K] <= budget[:_K], axis=1)
                                & (np.maximum(cyc, table[:, _K]) <= budget[_K]))
            parts.append(np.stack([np.full(len(ok), i), ok, score + scores[ok]], 1))
        grown = np.concatenate(parts)
        if not len(grown):
            return None
        grown = grown[np.argsort(-grown[:, 2], kind="stable")[:beam]]
        new_states = []
        for i, j, score in grown:
            i, j = int(i), int(j)
            _, chosen, res, cyc, ctx = states[i]
            row = tables[i][j]
            combo = dict(zip(names, (int(v) for v in combos[j])))
            ctx = ctx if slot.ops[combo["op"]] == IDENTITY else \
                (slot.channels[combo["channels"]], slot.act_bits[combo["act_bits"]])
            new_states.append((score, chosen + [combo], res + row[:_K], max(cyc, row[_K]), ctx))
        states = new_states
    finished = []
    for score, chosen, res, cyc, ctx in states:
        head = costs.head_cost(*ctx).numpy()
        if np.all(res + head[:_K] <= budget[:_K]) and max(cyc, head[_K]) <= budget[_K]:
            finished.append((score, chosen))
    return max(finished, key=lambda s: s[0])[1] if finished else None


def derive(net, costs: CostModel, beam: int = 256) -> tuple[list[dict], bool]:
    """(choices, within budget): the most probable architecture within the budget, or the argmax of
    every factor when nothing fits (the caller says so)."""
    choices = most_probable_within_budget(costs, log_probs(net), beam)
    return (choices, True) if choices is not None else (net.derived(), False)
