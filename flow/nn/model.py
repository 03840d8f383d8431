"""The basecaller network assembled from a ModelSpec."""
import torch
from torch import nn

from flow.nn import layers as L
from flow.data.normalise import DEFAULT_CLIP as INPUT_CLIP
from flow.nn.config import LayerSpec, ModelSpec
from flow.nn.dynamic_pool import DynamicPool


class ConvLayer(nn.Sequential):
    """conv → BatchNorm → activation (also the `pool` slot as a strided conv)."""

    def __init__(self, in_ch: int, spec: LayerSpec):
        groups = in_ch if spec.groups == "depthwise" else spec.groups
        super().__init__(
            L.conv(in_ch, spec.channels, spec.kernel, spec.weight_bits, spec.stride, groups, spec.dilation),
            L.batchnorm(spec.channels),
            L.activation(spec.activation, spec.act_bits),
        )


class SeparableLayer(nn.Module):
    """grouped/depthwise conv → quantizer → pointwise conv → BatchNorm → (activation)."""

    def __init__(self, in_ch: int, spec: LayerSpec, stride: int, activation: bool = True):
        super().__init__()
        groups = in_ch if spec.groups == "depthwise" else spec.groups
        self.grouped = L.conv(in_ch, in_ch, spec.kernel, spec.weight_bits, stride, groups, spec.dilation)
        self.mid_quant = L.signed_quant(spec.act_bits)
        self.pointwise = L.conv(in_ch, spec.channels, 1, spec.weight_bits)
        self.bn = L.batchnorm(spec.channels)
        self.act = L.activation(spec.activation, spec.act_bits) if activation else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(L.as_tensor(self.pointwise(self.mid_quant(self.grouped(x))))))


class SeparableStack(nn.Module):
    """`repeat` separable layers; with `residual`, a pointwise skip joins before the last activation.

    Both branches of the join pass one shared signed quantizer so the add sees one scale,
    as a streaming AddStreams node needs. `skip_active = False` (SkipClip) cuts the skip: the
    stack then computes exactly what the same layout with `residual: false` computes, its
    last activation being this stack's `act`.
    """

    def __init__(self, in_ch: int, spec: LayerSpec):
        super().__init__()
        self.residual = spec.residual
        self.skip_active = spec.residual
        body = []
        ch = in_ch
        for i in range(spec.repeat):
            last = i == spec.repeat - 1
            stride = spec.stride if i == 0 else 1
            body.append(SeparableLayer(ch, spec, stride, activation=not (last and spec.residual)))
            ch = spec.channels
        self.body = nn.Sequential(*body)
        if spec.residual:
            self.skip = nn.Sequential(L.conv(in_ch, spec.channels, 1, spec.weight_bits, spec.stride), L.batchnorm(spec.channels))
            self.join_quant = L.signed_quant(spec.act_bits)
            self.act = L.activation(spec.activation, spec.act_bits)

    def forward(self, x):
        y = self.body(x)
        if not self.residual:
            return y
        if not self.skip_active:
            return self.act(y)
        main = L.as_tensor(self.join_quant(L.as_tensor(y)))
        skip = L.as_tensor(self.join_quant(L.as_tensor(self.skip(x))))
        return self.act(main + skip)


def _block(in_ch: int, layer: LayerSpec) -> nn.Module:
    if layer.type == "separable":
        return SeparableStack(in_ch, layer)
    if layer.type == "dynamic_pool":
        return DynamicPool.from_spec(in_ch, layer)
    return ConvLayer(in_ch, layer)


def _conv_lengths(lengths: torch.Tensor, layer: LayerSpec, t_out: int) -> torch.Tensor:
    """Valid frames after a layer's (strided, 'same'-padded) convolution."""
    span = layer.dilation * (layer.kernel - 1)
    return ((lengths + 2 * (span // 2) - span - 1) // layer.stride + 1).clamp(0, t_out)


class Basecaller(nn.Module):
    """Signal [N, 1, T] (normalised) → CTC log-probabilities [T', N, classes].

    With a dynamic_pool layer the frames are data-dependent: `logits_and_lengths` and
    `forward_with_lengths` also give each row's valid frame count (the rest is padding).
    """

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.stride = spec.stride
        self.input_quant = L.signed_quant(spec.input_bits, init_range=INPUT_CLIP)
        blocks = []
        ch = 1
        for layer in spec.layers:
            blocks.append(_block(ch, layer))
            ch = layer.channels
        self.encoder = nn.Sequential(*blocks)
        self.head = L.conv(ch, spec.classes, 1, spec.head_weight_bits, bias=spec.head_bias)

    @property
    def dynamic_pool(self) -> DynamicPool | None:
        """The dynamic pooling layer, if the model has one."""
        return next((b for b in self.encoder if isinstance(b, DynamicPool)), None)

    def frames_into(self, block: nn.Module, chunk_len: int) -> int:
        """Frames reaching `block` for a chunk of chunk_len samples (strides of the layers before it)."""
        frames = chunk_len
        for b, layer in zip(self.encoder, self.spec.layers):
            if b is block:
                return frames
            frames //= layer.stride
        raise ValueError("the block is not in this model's encoder")

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-softmax scores [N, classes, T'] (padded rows when the model pools dynamically)."""
        if self.dynamic_pool is None:
            return L.as_tensor(self.head(self.encoder(self.input_quant(x))))
        return self.logits_and_lengths(x)[0]

    def logits_and_lengths(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores [N, classes, T'] and the valid frames of each row [N] (all T' without dynamic pooling)."""
        if self.dynamic_pool is None:
            out = self.logits(x)
            return out, torch.full((out.shape[0],), out.shape[-1], dtype=torch.int64)
        x = self.input_quant(x)
        lengths = None
        for block, layer in zip(self.encoder, self.spec.layers):
            if isinstance(block, DynamicPool):
                x, lengths = block(x)
            else:
                x = block(x)
                if lengths is not None:
                    lengths = _conv_lengths(lengths, layer, L.as_tensor(x).shape[-1])
        return L.as_tensor(self.head(x)), lengths

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.logits(x), dim=1).permute(2, 0, 1)

    def forward_with_lengths(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CTC log-probabilities [T', N, classes] and the valid frames of each row [N]."""
        logits, lengths = self.logits_and_lengths(x)
        return torch.log_softmax(logits, dim=1).permute(2, 0, 1), lengths


def build_model(spec: ModelSpec) -> Basecaller:
    return Basecaller(spec)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
