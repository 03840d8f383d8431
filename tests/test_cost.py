"""Differentiable cost (flow.hw.cost): exact gradients, candidate costs from the estimates, a toy search."""
import itertools

import pytest
import torch

from flow.errors import FlowError
from flow.hw import estimate as E
from flow.hw.calibration import Calibration, Factor
from flow.hw.cost import (METRICS, Candidate, budget_penalty, budget_vector, candidate_costs, expected_cost,
                          network_cost)
from flow.hw.targets import load_target

NOCAL = Calibration()
LAYER = dict(in_channels=48, in_bits=4, frames=1400, target="pynq-z2")
SEP = {"type": "separable", "channels": 48, "kernel": 9, "weight_bits": 4, "act_bits": 4}
CONV = {"type": "conv", "channels": 48, "kernel": 9, "weight_bits": 4, "act_bits": 4}


def test_expected_cost_gradcheck():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, dtype=torch.float64, generator=gen, requires_grad=True)
    costs = torch.rand(5, len(METRICS), dtype=torch.float64, generator=gen) * 1000
    assert torch.autograd.gradcheck(lambda z: expected_cost(torch.softmax(z, 0), costs), (logits,))
    p = torch.softmax(logits, 0)
    assert torch.allclose(expected_cost(p, costs), (p[:, None] * costs).sum(0))
    with pytest.raises(ValueError):
        expected_cost(p, costs[:4])


def test_penalty_and_network_gradcheck():
    gen = torch.Generator().manual_seed(1)
    costs = [torch.rand(3, len(METRICS), dtype=torch.float64, generator=gen) * torch.tensor([4e4, 200, 150, 1e6])
             for _ in range(3)]
    budget = torch.tensor([5e4, 238, 187, 8e5], dtype=torch.float64)
    logits = torch.randn(3, 3, dtype=torch.float64, generator=gen, requires_grad=True)

    def loss(z, sharpness, tau):
        per_layer = torch.stack([expected_cost(torch.softmax(z[i], 0), costs[i]) for i in range(3)])
        return budget_penalty(network_cost(per_layer, cycles_tau=tau), budget, sharpness)

    assert torch.autograd.gradcheck(lambda z: loss(z, 10.0, 1e4), (logits,))
    assert torch.autograd.gradcheck(lambda z: loss(z, None, None), (logits,))


def test_penalty_values():
    budget = torch.tensor([100.0, 10.0, 0.0, float("inf")], dtype=torch.float64)
    under = torch.tensor([50.0, 5.0, 7.0, 1e9], dtype=torch.float64)
    over = torch.tensor([150.0, 20.0, 7.0, 1e9], dtype=torch.float64)
    assert budget_penalty(under, budget) == 0                       # a zero or infinite budget is not judged
    assert budget_penalty(over, budget) == pytest.approx(0.5 + 1.0)
    assert 0 < budget_penalty(under, budget, sharpness=5.0) < 0.05  # smooth: small but still pulling
    per_layer = torch.tensor([[1.0, 2, 3, 10], [4, 5, 6, 30]], dtype=torch.float64)
    assert torch.equal(network_cost(per_layer), torch.tensor([5.0, 7, 9, 30], dtype=torch.float64))
    assert network_cost(per_layer, cycles_tau=0.01)[3] == pytest.approx(30)


def test_budget_vector():
    b = budget_vector("pynq-z2", headroom=0.15, cycles_target=5000)
    assert b.tolist() == pytest.approx([53200 * 0.85, 280 * 0.85, 220 * 0.85, 5000])
    assert budget_vector("pynq-z2")[3] == float("inf")


def _least_conv(calibration, cycles_target=float("inf")):
    """Oracle for the conv candidate: every legal folding (window SIMD = MVAU SIMD, free PE) and
    style (LUT or packed-DSP multipliers, parallel or binary-search thresholds, memories by the rule
    or in BRAM) costed with the estimates, the cheapest budget-normalised one that meets the cycle target."""
    budget = {r: load_target("pynq-z2").resources[r] * 0.85 for r in E.RESOURCES}
    best = None
    styles = [dict(res_type=r, threshold_style=t, ram_style=m)
              for r in ("lut", "dsp") for t in ("parallel", "search") for m in ("auto", "block")]
    for simd, pe, style in itertools.product((1, 2, 3, 4, 6, 8, 12, 16, 24, 48), (1, 2, 3, 4, 6, 8, 12, 16, 24, 48),
                                             styles):
        parts = [("FMPadding1D", E.estimate("FMPadding1D", channels=48, img_dim=1400, pad=(4, 4), bits=4, simd=simd)),
                 ("ConvolutionInputGenerator1D", E.estimate("ConvolutionInputGenerator1D", channels=48, kernel=9, ofm_dim=1400, bits=4,
                                                                  simd=simd)),
                 ("MVAU", E.estimate("MVAU", mw=9 * 48, mh=48, frames=1400, weight_bits=4, in_bits=4, out_bits=4, simd=simd,
                                 pe=pe, **style))]
        cost = E.total(c.calibrated(op, calibration) for op, c in parts)
        score = sum(getattr(cost, r) / budget[r] for r in E.RESOURCES if budget[r])
        if cost.cycles <= cycles_target and (best is None or score < best[0] - 1e-12):
            best = (score, cost)
    return [best[1].lut, best[1].bram18, best[1].dsp, best[1].cycles]


def test_candidate_costs_are_the_estimates():
    c = candidate_costs([SEP, CONV, {"type": "identity"}, {"type": "zero"}], **LAYER, calibration=NOCAL)
    assert c.shape == (4, len(METRICS)) and c.dtype == torch.float64
    assert torch.all(c[2:] == 0)
    assert c[1].tolist() == pytest.approx(_least_conv(NOCAL))          # no target: the least-resource folding
    fast = candidate_costs([CONV], **LAYER, calibration=NOCAL, cycles_target=100_000)
    assert fast[0].tolist() == pytest.approx(_least_conv(NOCAL, 100_000))
    # the separable layer at PE = SIMD = 1 is its windowed depthwise unit plus the pointwise MVAU
    pad = E.estimate("FMPadding1D", channels=48, img_dim=1400, pad=(4, 4), bits=4)
    swg = E.estimate("ConvolutionInputGenerator1D", channels=48, kernel=9, ofm_dim=1400, bits=4)
    dw = E.estimate("VVAU", channels=48, kernel=9, frames=1400, weight_bits=4, in_bits=4, out_bits=4)
    pw = E.estimate("MVAU", mw=48, mh=48, frames=1400, weight_bits=4, in_bits=4, out_bits=4, in_signed=True)
    sep = pad + swg + dw + pw
    assert c[0, 3] <= sep.cycles and c[0, 0] >= 0
    assert Candidate.of(SEP | {"repeat": 2}).kernel == 9
    with pytest.raises(FlowError, match="candidate"):
        candidate_costs([{"type": "lstm", "channels": 4}], **LAYER, calibration=NOCAL)


def test_candidate_costs_with_a_cycle_target_and_calibration():
    cands = [SEP, CONV, SEP | {"kernel": 25}, SEP | {"weight_bits": 8, "act_bits": 8}]
    slow = candidate_costs(cands, **LAYER, calibration=NOCAL)
    fast = candidate_costs(cands, **LAYER, calibration=NOCAL, cycles_target=100_000)
    assert torch.all(fast[:, 3] <= 100_000) and torch.all(fast[:, 0] > slow[:, 0])
    # a target the window cannot reach (span·C/SIMD, then one beat of all K taps per frame at SIMD = C):
    # its fastest folding
    unreachable = candidate_costs([SEP | {"kernel": 25}], **LAYER, calibration=NOCAL, cycles_target=1_000)
    assert unreachable[0, 3] == 25 + 1400
    doubled = Calibration({"MVAU": {"lut": Factor(2.0, 1, ("vivado",))}})
    assert candidate_costs([CONV], **LAYER, calibration=doubled)[0].tolist() == pytest.approx(_least_conv(doubled))
    # dearer LUTs: the least-resource choice costs more of the board (it may move multipliers to DSPs)
    board = load_target("pynq-z2").resources
    def share(row):
        return row[0] / board["lut"] + row[1] / board["bram18"] + row[2] / board["dsp"]
    assert share(candidate_costs([CONV], **LAYER, calibration=doubled)[0]) > share(slow[1])
    # at one throughput, bigger kernels, more bits and dense convs cost more LUTs
    assert fast[2, 0] > fast[0, 0] and fast[3, 0] > fast[0, 0] and fast[1, 0] > fast[0, 0]


def test_minimising_the_penalty_moves_probability_to_the_cheaper_op():
    costs = candidate_costs([CONV, SEP], **LAYER, calibration=NOCAL, cycles_target=200_000)
    budget = torch.tensor([costs[:, 0].mean().item(), 1e9, 1e9, float("inf")], dtype=torch.float64)
    assert costs[0, 0] > budget[0] > costs[1, 0]                # the conv is over the LUT budget, the separable under
    logits = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([logits], lr=5.0)
    start = torch.softmax(logits, 0)[1].item()
    assert start == 0.5
    for _ in range(50):
        opt.zero_grad()
        loss = budget_penalty(expected_cost(torch.softmax(logits, 0), costs), budget, sharpness=20.0)
        loss.backward()
        assert logits.grad.abs().sum() > 0
        opt.step()
        assert torch.softmax(logits, 0)[1].item() >= start
        start = torch.softmax(logits, 0)[1].item()
    p = torch.softmax(logits, 0)
    assert p[1] > 0.75
    assert expected_cost(p, costs)[0] < budget[0]
