"""The weight-sharing supernet: every slot's candidates share one set of weights.

Per slot, one depthwise weight [C, 1, K_sep], one pointwise weight [C, C] and one dense weight
[C, C, K_conv] at the widest width C and the largest kernel; a candidate takes the centred
kernel slice, the input channels that are live and all C outputs, then masks the outputs past
its width (FBNetV2 channel masking: tensors are carried at width C, unused channels zero, so
`identity` is legal at every width). Weights are fake-quantized per candidate bit-width (per
output channel, symmetric, as the models' Int8WeightPerChannelFloat); activations by a
learned-range PACT quantizer per slot shared by the bit-widths. Brevitas quantizers are fixed-width
modules with their own scale state, so the supernet quantizes itself; the derived model is an
ordinary Brevitas model trained from scratch.

Choices are sampled per step with the Gumbel-softmax straight-through estimator (hard one-hot
forward, soft gradient) from the architecture logits, one sample shared by the whole batch (and
by every process of a distributed run, the noise being seeded by the step). Only the sampled
op is computed (GDAS): its output is multiplied by the op's gate, whose value is one and whose
gradient reaches every logit of the factor. Width and bit-widths enter as mixtures, each
candidate weighted by its gate: the width as a mixture of channel masks (FBNetV2), the weight
bits as a mixture of the weight quantized at every bit-width and the activation bits as one of
the activation quantized at every bit-width (EdMIPS), all cheap next to the convolution. The
forward value is the sampled path's (the other gates are zero), and the gradient to activation
bit-width b's gate is ⟨∂L/∂y, y_b⟩, so two bit-widths' gradients differ by the first-order change
of the loss when one replaces the other (for weight bit-widths ⟨∂L/∂W, W_b⟩ summed over the
slot's weights, through BatchNorm: a first order only). Why not gate the output by the sampled bit-width alone, as the
op: that gradient is ⟨∂L/∂y, y⟩ whichever bit-width was sampled, it says whether a larger output
would help and nothing about which bit-width reads better, so the cost alone chose the
bit-widths (measured on pynq-z2 after 250 steps: in five of the eight slots 2, 3 and 4-bit
activations each held 0.27–0.38 of the probability, reports/qabas/README.md). Its limit, measured
(bench/qabas_probe.py --bit-signal, 3 batches): in a supernet whose derived path does not read,
the first-order sign matches the measured loss change for 19 of 21 activation bit-widths and 14 of
28 weight bit-widths; in one whose derived path reads a little, for 13 of 23 and 2 of 31. There
the shared weights fit the chosen bit-width's grid, so every other weight bit-width measures
worse, and 2-bit activations cost far more than their first order says.
BatchNorm statistics are taken over the global batch when distributed (a differentiable
all-reduce), so a data-parallel run computes what one process does on the whole batch.
"""
import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from flow.data.normalise import DEFAULT_CLIP
from flow.search.space import IDENTITY, SearchSpace, Slot

FACTORS = ("op", "channels", "weight_bits", "act_bits")
RELU_INIT_MAX = 4.0
SIGNED_INIT_RANGE = 4.0


def ste_round(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def quant_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Symmetric narrow-range per-output-channel fake quantization (max-abs scale)."""
    top = 2 ** (bits - 1) - 1
    scale = w.detach().abs().amax(dim=tuple(range(1, w.dim())), keepdim=True).clamp_min(1e-8) / top
    return torch.clamp(ste_round(w / scale), -top, top) * scale


def quant_relu(x: torch.Tensor, top: torch.Tensor, bits: int) -> torch.Tensor:
    """PACT: ReLU clipped at a learned `top`, then 2^bits levels."""
    y = torch.minimum(torch.relu(x), top)
    scale = top / (2 ** bits - 1)
    return ste_round(y / scale) * scale


def quant_signed(x: torch.Tensor, limit: torch.Tensor, bits: int) -> torch.Tensor:
    y = torch.maximum(torch.minimum(x, limit), -limit)
    scale = limit / (2 ** (bits - 1) - 1)
    return ste_round(y / scale) * scale


def bit_mixture(x: torch.Tensor, quantize, bits: tuple, chosen: int, gate: torch.Tensor) -> torch.Tensor:
    """Σ_b gate[b] · quantize(x, bits[b]): the chosen bit-width's value (the gate is one-hot), with
    a gradient to every bit-width's gate. A gate without a gradient (evaluation, weight steps)
    quantizes at the chosen bit-width only."""
    if not gate.requires_grad:
        return quantize(x, bits[chosen]) * gate[chosen]
    return sum(g * quantize(x, b) for g, b in zip(gate, bits))


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() \
        and torch.distributed.get_world_size() > 1


class BatchNorm(nn.Module):
    """BatchNorm over (batch, time) with global-batch statistics in a distributed run (`sync`)."""

    def __init__(self, channels: int, eps: float = 1e-3, momentum: float = 0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.sync, self.update_running = True, True  # off while rank 0 alone scores an architecture
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x):
        if self.training:
            stats = torch.cat([x.sum((0, 2)), (x * x).sum((0, 2)), x.new_tensor([x.shape[0] * x.shape[2]])])
            if self.sync and _distributed():
                from torch.distributed.nn.functional import all_reduce

                stats = all_reduce(stats)
            c = x.shape[1]
            n = stats[-1]
            mean = stats[:c] / n
            var = (stats[c:2 * c] / n - mean * mean).clamp_min(0)
            if self.update_running:
                with torch.no_grad():
                    self.running_mean.lerp_(mean, self.momentum)
                    self.running_var.lerp_(var * n / (n - 1).clamp_min(1), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean[:, None]) * torch.rsqrt(var[:, None] + self.eps) * self.weight[:, None] + self.bias[:, None]


@contextmanager
def batch_statistics_only(net: nn.Module):
    """BatchNorm on the batch's statistics (train mode), the running ones untouched and no process
    synced: for scoring one architecture (the running statistics mix every sampled path) on one process."""
    bns = [m for m in net.modules() if isinstance(m, BatchNorm)]
    before = [(m.sync, m.update_running, m.training) for m in bns]
    for m in bns:
        m.sync = m.update_running = False
        m.train()
    try:
        yield
    finally:
        for m, (sync, update, training) in zip(bns, before):
            m.sync, m.update_running = sync, update
            m.train(training)


def _conv_weight(out_ch: int, in_ch: int, kernel: int) -> nn.Parameter:
    w = torch.empty(out_ch, in_ch, kernel)
    nn.init.kaiming_uniform_(w, a=math.sqrt(5))  # nn.Conv1d's default
    return nn.Parameter(w)


class SlotNet(nn.Module):
    """The shared weights of one slot and the forward pass of one sampled candidate."""

    def __init__(self, slot: Slot, width: int):
        super().__init__()
        self.slot = slot
        kinds = {k for k, _ in slot.ops}
        self.k_sep = max((k for t, k in slot.ops if t == "separable"), default=0)
        self.k_conv = max((k for t, k in slot.ops if t == "conv"), default=0)
        if "separable" in kinds:
            self.dw = _conv_weight(width, 1, self.k_sep)
            self.pw = _conv_weight(width, width, 1)
            self.bn_sep = BatchNorm(width)
            self.mid_range = nn.Parameter(torch.tensor(SIGNED_INIT_RANGE))
        if "conv" in kinds:
            self.conv = _conv_weight(width, width, self.k_conv)
            self.bn_conv = BatchNorm(width)
        self.act_top = nn.Parameter(torch.tensor(RELU_INIT_MAX))
        masks = torch.zeros(len(slot.channels), width)
        for j, c in enumerate(slot.channels):
            masks[j, :c] = 1
        self.register_buffer("masks", masks, persistent=False)

    @staticmethod
    def _centre(w: torch.Tensor, k: int) -> torch.Tensor:
        c = (w.shape[-1] - 1) // 2
        return w[..., c - (k - 1) // 2: c + (k - 1) // 2 + 1]

    def forward(self, x, in_width: int, choice: dict, gates: dict):
        """x [N, C, T] with channels ≥ in_width zero → (y [N, C, T], live width of y)."""
        kind, k = self.slot.ops[choice["op"]]
        if (kind, k) == IDENTITY:
            return x * gates["op"][choice["op"]], in_width
        w_bits = (self.slot.weight_bits, choice["weight_bits"], gates["weight_bits"])
        a_bits = (self.slot.act_bits, choice["act_bits"], gates["act_bits"])
        x = x[:, :in_width]
        if kind == "separable":
            dw = bit_mixture(self._centre(self.dw[:in_width], k), quant_weight, *w_bits)
            y = F.conv1d(x, dw, padding=(k - 1) // 2, groups=in_width)
            y = bit_mixture(y, lambda t, b: quant_signed(t, self.mid_range, b), *a_bits)
            y = self.bn_sep(F.conv1d(y, bit_mixture(self.pw[:, :in_width], quant_weight, *w_bits)))
        else:
            conv = bit_mixture(self._centre(self.conv[:, :in_width], k), quant_weight, *w_bits)
            y = self.bn_conv(F.conv1d(x, conv, padding=(k - 1) // 2))
        mask = gates["channels"] @ self.masks  # the sampled width's mask, with a gradient to every width logit
        y = bit_mixture(y * mask[None, :, None], lambda t, b: quant_relu(t, self.act_top, b), *a_bits)
        return y * gates["op"][choice["op"]], self.slot.channels[choice["channels"]]


class Supernet(nn.Module):
    """Signal [N, 1, T] → CTC log-probabilities [T', N, classes] of one sampled architecture."""

    def __init__(self, space: SearchSpace):
        super().__init__()
        self.space = space
        width = space.width
        s = space.stem
        self.input_range = nn.Parameter(torch.tensor(DEFAULT_CLIP))
        self.stem = _conv_weight(s.channels, 1, s.kernel)
        self.stem_bn = BatchNorm(s.channels)
        self.stem_top = nn.Parameter(torch.tensor(RELU_INIT_MAX))
        self.slots = nn.ModuleList(SlotNet(slot, width) for slot in space.slots)
        self.head = _conv_weight(space.classes, width, 1)
        # one logit vector per factor with at least two choices (a single choice has no gradient to take)
        self.arch = nn.ParameterDict({
            f"{i}_{f}": nn.Parameter(torch.zeros(len(v))) for i, slot in enumerate(space.slots)
            for f, v in slot.factors.items() if len(v) > 1})

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch.values()}
        return [p for p in self.parameters() if id(p) not in arch]

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.arch.values())

    def logits_of(self, i: int, factor: str) -> torch.Tensor | None:
        return self.arch[f"{i}_{factor}"] if f"{i}_{factor}" in self.arch else None

    def probs(self) -> list[torch.Tensor]:
        """Per slot, the joint probabilities of its factor combinations (flattened in C order, as
        the cost tables), from the softmax of the logits: the hardware term's distribution (on the CPU
        in float64, where the cost tables are)."""
        out = []
        for i, slot in enumerate(self.space.slots):
            joint = None
            for f in slot.factors:
                logits = self.logits_of(i, f)
                p = torch.ones(1, dtype=torch.float64) if logits is None else torch.softmax(logits.cpu().double(), 0)
                joint = p if joint is None else (joint[:, None] * p[None, :]).reshape(-1)
            out.append(joint)
        return out

    def derived(self) -> list[dict]:
        """The argmax of every factor of every slot."""
        return [{f: 0 if self.logits_of(i, f) is None else int(self.logits_of(i, f).argmax())
                 for f in slot.factors} for i, slot in enumerate(self.space.slots)]

    def sample(self, generator: torch.Generator, tau: float) -> tuple[list[dict], list[dict]]:
        """Gumbel-softmax straight-through samples: (choices, gates) per slot."""
        choices, gates = [], []
        for i, slot in enumerate(self.space.slots):
            ch, gt = {}, {}
            for f, values in slot.factors.items():
                logits = self.logits_of(i, f)
                if logits is None:
                    ch[f], gt[f] = 0, torch.ones(1, device=self.head.device)
                    continue
                u = torch.rand(len(values), generator=generator).clamp(1e-10, 1 - 1e-10).to(logits.device)
                soft = torch.softmax((logits - torch.log(-torch.log(u))) / tau, 0)
                ch[f] = int(soft.argmax())
                hard = F.one_hot(torch.tensor(ch[f]), len(values)).to(soft)
                gt[f] = hard - soft.detach() + soft
            choices.append(ch)
            gates.append(gt)
        return choices, gates

    def fixed(self, choices: list[dict]) -> list[dict]:
        """Gates of value one without gradient, for evaluating one architecture."""
        return [{f: F.one_hot(torch.tensor(ch[f]), len(v)).float().to(self.head.device) for f, v in slot.factors.items()}
                for slot, ch in zip(self.space.slots, choices)]

    def forward(self, x, choices, gates) -> torch.Tensor:
        s = self.space.stem
        x = quant_signed(x, self.input_range, self.space.input_bits)
        w = quant_weight(self.stem, s.weight_bits)
        y = F.conv1d(x, w, stride=s.stride, padding=(s.kernel - 1) // 2)
        y = quant_relu(self.stem_bn(y), self.stem_top, s.act_bits)
        y = F.pad(y, (0, 0, 0, self.space.width - s.channels))
        width = s.channels
        for net, ch, gt in zip(self.slots, choices, gates):
            y, width = net(y, width, ch, gt)
        logits = F.conv1d(y[:, :width], quant_weight(self.head[:, :width], self.space.head_weight_bits))
        return torch.log_softmax(logits, dim=1).permute(2, 0, 1)
