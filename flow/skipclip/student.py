"""The SkipClip student: its default layout, the form it trains in, and the skip-free model it ends as.

The student trains with a skip wherever the teacher has one (`training_form`), initialised from
the teacher's weights; a cut skip (`SeparableStack.skip_active = False`) leaves exactly the
computation of the same stack with `residual: false`, so `without_cut_skips` only renames tensors.
"""
import re
from dataclasses import replace

from flow.errors import FlowError
from flow.nn.config import ModelSpec
from flow.nn.model import Basecaller, build_model


def default_student(teacher: ModelSpec, weight_bits: int = 8, act_bits: int = 8) -> ModelSpec:
    """The teacher's layout without skips, quantized, with the teacher's activation (a quantized swish
    is the monotone swish, flow.nn.layers); no head bias: the dataflow head is a bias-free MVAU."""
    layers = [replace(layer, residual=False, weight_bits=weight_bits, act_bits=act_bits) for layer in teacher.layers]
    return replace(teacher, name=f"{teacher.name}_skipclip", layers=layers, input_bits=act_bits,
                   head_weight_bits=weight_bits, head_bias=False, description=f"{teacher.name} without skips, {weight_bits}-bit weights, "
                   f"{act_bits}-bit activations (SkipClip student)", extra={})


def training_form(student: ModelSpec, teacher: ModelSpec) -> ModelSpec:
    """The student with a skip wherever the teacher has one; layers must pair one to one."""
    if len(student.layers) != len(teacher.layers):
        raise FlowError(f"{student.source or student.name}: {len(student.layers)} layers, but the teacher "
                        f"{teacher.name} has {len(teacher.layers)}; SkipClip pairs the student's layers with the teacher's")
    layers = []
    for i, (s, t) in enumerate(zip(student.layers, teacher.layers)):
        if t.residual:
            shape = ("type", "channels", "kernel", "stride", "repeat")
            if any(getattr(s, k) != getattr(t, k) for k in shape):
                raise FlowError(f"{student.source or student.name} layer {i}: the teacher's skip spans a "
                                f"{'/'.join(str(getattr(t, k)) for k in shape)} ({'/'.join(shape)}) stack, the student's "
                                f"layer is {'/'.join(str(getattr(s, k)) for k in shape)}; give it the teacher's shape")
            s = replace(s, residual=True)
        layers.append(s)
    return replace(student, layers=layers)


def skip_layers(spec: ModelSpec) -> list[int]:
    """Encoder indices of the stacks with a skip (only separable stacks carry one)."""
    return [i for i, layer in enumerate(spec.layers) if layer.type == "separable" and layer.residual]


def skip_blocks(model: Basecaller) -> list[int]:
    """Encoder indices of the model's stacks with a skip."""
    return skip_layers(model.spec)


def without_cut_skips(model: Basecaller) -> Basecaller:
    """A model whose cut skips are gone from the layout (`residual: false`), computing the same."""
    cut = {i for i in skip_blocks(model) if not model.encoder[i].skip_active}
    if not cut:
        return model
    spec = replace(model.spec, layers=[replace(l, residual=False) if i in cut else l for i, l in enumerate(model.spec.layers)])
    state = {}
    for key, value in model.state_dict().items():
        m = re.match(r"encoder\.(\d+)\.(skip|join_quant|act)\.(.*)", key)
        if m is None or int(m[1]) not in cut:
            state[key] = value
        elif m[2] == "act":  # the stack's activation becomes its last layer's
            state[f"encoder.{m[1]}.body.{spec.layers[int(m[1])].repeat - 1}.act.{m[3]}"] = value
    out = build_model(spec)
    out.load_state_dict(state)
    return out.train(model.training)
