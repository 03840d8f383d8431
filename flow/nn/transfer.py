"""Seeding a model with another model's weights: where names and shapes agree, or sliced from a larger model."""
import torch

from flow.errors import FlowError
from flow.nn.config import ModelSpec
from flow.nn.model import build_model


def matching_weights(spec: ModelSpec, source) -> dict:
    """The target's full state dict, with every tensor the source has (same name, same shape) taken from it.

    Quantized and float layers share weight names, so a float teacher seeds a quantized
    student of the same layout.
    """
    target = build_model(spec).state_dict()
    theirs = source.state_dict()
    taken = {k: theirs[k] for k in target if k in theirs and theirs[k].shape == target[k].shape}
    if not taken:
        raise FlowError(f"no tensor of the initial model matches {spec.name} by name and shape")
    return target | taken


def block_index(small, large) -> tuple[slice, ...]:
    """Where a tensor of shape `small` sits inside one of shape `large` (same rank, no axis larger):
    the leading channels on every axis and, on a conv weight's kernel axis (the last of three),
    the centre taps. A subnet's weights are this block of its supernet's (warm start, slicing)."""
    index = [slice(0, d) for d in small]
    if len(small) == 3:
        pad = (large[-1] - small[-1]) // 2
        index[-1] = slice(pad, pad + small[-1])
    return tuple(index)


def leading_block(src: torch.Tensor, shape: torch.Size) -> torch.Tensor | None:
    """The block of `src` that a tensor of `shape` inherits (`block_index`); None where `shape`
    is larger or of another rank."""
    if src.dim() != len(shape) or any(d > s for d, s in zip(shape, src.shape)):
        return None
    return src[block_index(shape, src.shape)].clone()


def sliced_weights(spec: ModelSpec, source) -> dict:
    """The target's full state dict, every tensor the source has by name taken as its leading block
    (`leading_block`): a narrower, lower-precision or shallower model of the same chain inherits the
    trained model's weights, as one-shot NAS hands a subnet its supernet's weights. Layers match by
    position (layer i from layer i), so a model with a layer dropped from the middle takes the
    layers after the gap from their predecessors' places: a start to fine-tune, not a copy. Learned
    activation ranges copy over as they are (a range, not a step, so they hold at other bit-widths);
    layers the source lacks or holds in another form (conv against separable) keep their
    initial weights."""
    target = build_model(spec).state_dict()
    theirs = source.state_dict()
    taken = {k: block for k in target if k in theirs
             and (block := leading_block(theirs[k], target[k].shape)) is not None}
    if not any(k.endswith("weight") for k in taken):
        raise FlowError(f"no weight of the initial model fits {spec.name} by name (same layer kinds, "
                        "no wider and no larger kernels); use --init without --init-slice for a model of other names")
    return target | {k: v.to(target[k].dtype) for k, v in taken.items()}
