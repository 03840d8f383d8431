"""Warm start: a supernet's shared weights from a trained chain model (`rubicon search --init`).

Why: trained from random weights, a CTC supernet sits on the blank plateau (every frame blank,
loss ≈ ln 4 per base) for its first several hundred steps. Architecture steps taken there see a
task loss that no architecture changes, and the search drifts to the cheapest paths (identity
slots, "stem only"): measured on pynq_default.yaml at 400 steps, both searches had collapsed by
step 140. Starting the shared weights from a model that already reads (e.g. `rubicall_pynq`)
gives the architecture steps a task loss that tells candidates apart from the first step.

The model must be a chain of the space's shape: its first layer the space's stem, then one
layer per slot in order (a separable layer of depthwise + pointwise, or a dense conv; `repeat`
counts as that many layers), each at stride 1, without skips; fewer layers than slots leaves
the remaining slots as initialised. Every tensor goes into the leading block of the shared
tensor it belongs to (input channels, output channels), kernels centred in the slot's largest
kernel with zeros around them, as the supernet's own kernel slices take them. Activation ranges
(PACT tops, the signed mid and input ranges) come from the model's learned quantizer scales.
Candidates the model lacks (other ops, wider channels) keep their initial weights.

With `prior` > 0 the architecture logits start at the model's own choices too (that logit
`prior`, the others 0): without it the logits start uniform, and the first architecture steps, on
a distribution with nothing to prefer, hand every slot to the hardware term (measured: the reduced
pynq-z2 run fell to one layer). The prior makes the search start from the hand design and leave it
only where the task or the cost says so; every layer's op, width and bit-widths must then be
among its slot's choices, and slots past the model's last layer start at identity.
"""
import torch

from flow.errors import FlowError
from flow.nn.checkpoint import load_model
from flow.nn.transfer import block_index
from flow.search.space import IDENTITY
from flow.search.supernet import Supernet

_SCALE = "act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value"


def _layers(spec) -> list[tuple[int, int, object]]:
    """(block index, body index or -1 for a conv, layer spec) for every layer after the stem."""
    out = []
    for b, layer in enumerate(spec.layers[1:], start=1):
        if layer.type == "separable":
            out += [(b, r, layer) for r in range(layer.repeat)]
        elif layer.type == "conv":
            out.append((b, -1, layer))
        else:
            raise FlowError(f"{spec.source}: layer {b} is `{layer.type}`; a warm start takes conv and separable layers only")
    return out


def _put(dst: torch.Tensor, src: torch.Tensor, what: str) -> None:
    """src into the leading block of dst; a kernel axis (the last, when longer) centred."""
    if src.dim() != dst.dim() or any(s > d for s, d in zip(src.shape, dst.shape)):
        raise FlowError(f"--init: {what} {tuple(src.shape)} does not fit the supernet's {tuple(dst.shape)}; "
                        "the model must be narrower or equal, with kernels no larger than the slot's largest")
    index = block_index(src.shape, dst.shape)
    with torch.no_grad():
        if src.dim() == 3:
            dst[index[:2]] = 0  # the taps around a smaller kernel
        dst[index] = src


def _bn(dst, sd: dict, prefix: str) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        _put(getattr(dst, name), sd[f"{prefix}.{name}"], f"{prefix}.{name}")


def _range(dst: torch.nn.Parameter, sd: dict, key: str, signed_bits: int | None = None) -> None:
    """A learned range; a signed Brevitas quantizer's step is range / 2^(b-1), the supernet's
    range / (2^(b-1) - 1), so its range is scaled to keep the step."""
    value = sd[key].reshape(()).abs().clamp_min(1e-3)
    if signed_bits:
        value = value * (2 ** (signed_bits - 1) - 1) / 2 ** (signed_bits - 1)
    with torch.no_grad():
        dst.copy_(value)


def model_choices(space, spec) -> list[dict]:
    """The model's layers after the stem as slot choices (factor indices); identity past its last layer."""
    out, layers = [], _layers(spec)
    for i, slot in enumerate(space.slots):
        if i >= len(layers):
            if IDENTITY not in slot.ops:
                raise FlowError(f"--init {spec.source}: {len(layers)} layers, and slot {i} cannot be identity")
            out.append({f: 0 for f in slot.factors} | {"op": slot.ops.index(IDENTITY)})
            continue
        b, _, layer = layers[i]
        wanted = {"op": (layer.type, layer.kernel), "channels": layer.channels, "weight_bits": layer.weight_bits,
                  "act_bits": layer.act_bits}
        choice = {}
        for f, values in slot.factors.items():
            if wanted[f] not in values:
                raise FlowError(f"--init {spec.source}: layer {b} has {f} {wanted[f]}, which slot {i} does not offer "
                                f"({list(values)}); use --init-prior 0 to start the logits uniform")
            choice[f] = values.index(wanted[f])
        out.append(choice)
    return out


def warm_start(net: Supernet, model_path: str, prior: float = 0.0) -> str:
    """Copy the model's weights into net (in place) and, with `prior`, bias the logits toward its
    choices; returns a one-line description."""
    model, _ = load_model(model_path)
    spec, sd = model.spec, model.state_dict()
    if spec.head_bias:
        raise FlowError(f"--init {model_path}: its head has a bias; the supernet's head has none")
    space = net.space
    stem, own = space.stem, spec.layers[0]
    if (own.type, own.channels, own.kernel, own.stride) != ("conv", stem.channels, stem.kernel, stem.stride):
        raise FlowError(f"--init {model_path}: its first layer ({own.type} {own.channels}×k{own.kernel}/s{own.stride}) is not "
                        f"the space's stem (conv {stem.channels}×k{stem.kernel}/s{stem.stride})")
    layers = _layers(spec)
    if len(layers) > len(space.slots):
        raise FlowError(f"--init {model_path}: {len(layers)} layers after the stem, the space has {len(space.slots)} slots")
    _put(net.stem, sd["encoder.0.0.weight"], "stem weight")
    _bn(net.stem_bn, sd, "encoder.0.1")
    _range(net.stem_top, sd, f"encoder.0.2.{_SCALE}")
    _range(net.input_range, sd, f"input_quant.{_SCALE}", spec.input_bits)
    for i, (b, r, layer) in enumerate(layers):
        slot, slot_net = space.slots[i], net.slots[i]
        if layer.stride != 1 or layer.residual or layer.dilation != 1:
            raise FlowError(f"--init {model_path}: layer {b} has a stride, dilation or skip; slots have none")
        kind = layer.type
        if not any(t == kind for t, _ in slot.ops):
            raise FlowError(f"--init {model_path}: layer {b} is `{kind}`, slot {i} offers {sorted({t for t, _ in slot.ops})}")
        if kind == "separable":
            if layer.groups != "depthwise":
                raise FlowError(f"--init {model_path}: layer {b} is grouped, not depthwise; slots are depthwise")
            p = f"encoder.{b}.body.{r}"
            _put(slot_net.dw, sd[f"{p}.grouped.weight"], f"{p}.grouped.weight")
            _put(slot_net.pw, sd[f"{p}.pointwise.weight"], f"{p}.pointwise.weight")
            _bn(slot_net.bn_sep, sd, f"{p}.bn")
            _range(slot_net.mid_range, sd, f"{p}.mid_quant.{_SCALE}", layer.act_bits)
            _range(slot_net.act_top, sd, f"{p}.act.{_SCALE}")
        else:
            p = f"encoder.{b}"
            _put(slot_net.conv, sd[f"{p}.0.weight"], f"{p}.0.weight")
            _bn(slot_net.bn_conv, sd, f"{p}.1")
            _range(slot_net.act_top, sd, f"{p}.2.{_SCALE}")
    _put(net.head, sd["head.weight"], "head weight")
    described = f"{spec.name}: stem, {len(layers)} of {len(space.slots)} slots and the head"
    if prior:
        with torch.no_grad():
            for i, choice in enumerate(model_choices(space, spec)):
                for f, j in choice.items():
                    logits = net.logits_of(i, f)
                    if logits is not None:
                        logits.zero_()
                        logits[j] = prior
        described += f"; architecture logits {prior:g} at its choices"
    return described
