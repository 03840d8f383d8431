"""Layer factories: one place decides between Brevitas quantized and float layers."""
import torch
from brevitas import nn as qnn
from brevitas.quant import Int8ActPerTensorFloatMinMaxInit, Int8WeightPerChannelFloat, Uint8ActPerTensorFloatMaxInit
from torch import nn

from flow.numerics.activation import SWISH_ARGMIN


def conv(in_ch: int, out_ch: int, kernel: int, bits: int | None, stride: int = 1, groups: int = 1,
         dilation: int = 1, bias: bool = False) -> nn.Module:
    """1-D convolution with 'same' padding (for odd kernels); no bias where BatchNorm follows."""
    padding = dilation * (kernel - 1) // 2
    if bits is None:
        return nn.Conv1d(in_ch, out_ch, kernel, stride=stride, padding=padding, groups=groups, dilation=dilation, bias=bias)
    return qnn.QuantConv1d(
        in_ch, out_ch, kernel, stride=stride, padding=padding, groups=groups, dilation=dilation, bias=bias,
        weight_quant=Int8WeightPerChannelFloat, weight_bit_width=bits,
    )


# Activation scales are learned parameters with a fixed initial range, not initialised
# from runtime statistics: statistics collection keeps state outside the state dict,
# which would make a resumed training run differ from an uninterrupted one.
RELU_INIT_MAX = 4.0
SIGNED_INIT_RANGE = 4.0


# Swish x·σ(x) has its minimum −0.2785 at x₀ = −1.2785 and rises again towards 0 below it. Thresholds
# implement only non-decreasing activations, so the quantized swish holds that minimum below x₀:
# the same function above x₀, and a teacher's swish weights keep most of their accuracy.


class MonotoneSwish(nn.Module):
    """swish(max(x, x₀)): non-decreasing, so a MultiThreshold can implement it with its quantizer."""

    def forward(self, x):
        x = torch.clamp(as_tensor(x), min=SWISH_ARGMIN)
        return x * torch.sigmoid(x)


def activation(kind: str, bits: int | None) -> nn.Module:
    """ReLU, quantized unsigned when `bits` is set (FINN folds it into integer thresholds); float swish;
    or, with `bits`, the monotone swish quantized signed (its minimum is below zero)."""
    if kind == "swish":
        return nn.SiLU() if bits is None else nn.Sequential(MonotoneSwish(), signed_quant(bits))
    if bits is None:
        return nn.ReLU()
    return qnn.QuantReLU(act_quant=Uint8ActPerTensorFloatMaxInit, bit_width=bits, max_val=RELU_INIT_MAX)


def signed_quant(bits: int | None, init_range: float = SIGNED_INIT_RANGE) -> nn.Module:
    """Signed quantizer between two MAC layers that have no activation between them."""
    if bits is None:
        return nn.Identity()
    return qnn.QuantIdentity(act_quant=Int8ActPerTensorFloatMinMaxInit, bit_width=bits,
                             min_val=-init_range, max_val=init_range)


def batchnorm(channels: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(channels, eps=1e-3, momentum=0.1)


def as_tensor(x) -> torch.Tensor:
    """Brevitas may hand back a QuantTensor; downstream float ops want a plain tensor."""
    return x.value if hasattr(x, "value") and not isinstance(x, torch.Tensor) else x
