"""Seeding a model with another model's weights where names and shapes agree."""
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
