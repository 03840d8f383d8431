"""Model YAML: schema, validation and loading.

A model file names its layers in order; every layer gives its own weight and activation
bit-widths (2..8, or null for float). Layer types:

- `conv`: convolution (optionally grouped, strided) → BatchNorm → activation.
- `separable`: grouped or depthwise convolution → quantizer → pointwise convolution →
  BatchNorm → activation (RUBICALL / Bonito building block). `repeat` stacks it;
  `residual: true` adds a pointwise+BatchNorm skip around the stack (Bonito block).
- `pool`: the dynamic-pooling slot. Until dynamic pooling lands it is a strided
  convolution (`stride`), so Osprey-style models train and build today.

The CTC head is a pointwise convolution to 5 classes (blank, A, C, G, T).
"""
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from flow.errors import FlowError
from flow.paths import MODELS_DIR

LAYER_TYPES = ("conv", "separable", "pool")
LAYER_KEYS = {"type", "channels", "kernel", "stride", "groups", "weight_bits", "act_bits", "repeat", "residual", "dilation", "activation"}
ACTIVATIONS = ("relu", "swish")


@dataclass
class LayerSpec:
    type: str
    channels: int
    kernel: int = 1
    stride: int = 1
    groups: int | str = 1  # int, or "depthwise"
    weight_bits: int | None = 8
    act_bits: int | None = 8
    repeat: int = 1
    residual: bool = False
    dilation: int = 1
    activation: str = "relu"  # swish only in float layers (teachers); hardware layers use ReLU


@dataclass
class ModelSpec:
    name: str
    layers: list[LayerSpec]
    input_bits: int | None = 8
    head_weight_bits: int | None = 8
    head_bias: bool = False
    classes: int = 5
    description: str = ""
    source: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def stride(self) -> int:
        total = 1
        for layer in self.layers:
            total *= layer.stride
        return total

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "input": {"act_bits": self.input_bits},
            "layers": [
                {k: v for k, v in vars(layer).items() if v != getattr(LayerSpec, k, None) or k in ("type", "channels")}
                for layer in self.layers
            ],
            "head": {"classes": self.classes, "weight_bits": self.head_weight_bits, "bias": self.head_bias},
            **self.extra,
        }


def _check_bits(value, where: str):
    if value is None:
        return None
    if not isinstance(value, int) or not 2 <= value <= 8:
        raise FlowError(f"{where}: bit-width must be an integer from 2 to 8, or null for float (got {value!r})")
    return value


def parse_model(data: dict, source: str = "<dict>") -> ModelSpec:
    """Validate a model dict (as loaded from YAML) into a ModelSpec."""
    if not isinstance(data, dict) or "layers" not in data or "name" not in data:
        raise FlowError(f"{source}: a model file needs `name` and `layers`")
    layers = []
    for i, raw in enumerate(data["layers"]):
        where = f"{source} layer {i}"
        if not isinstance(raw, dict):
            raise FlowError(f"{where}: expected a mapping, got {raw!r}")
        unknown = set(raw) - LAYER_KEYS
        if unknown:
            raise FlowError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(LAYER_KEYS)}")
        if raw.get("type") not in LAYER_TYPES:
            raise FlowError(f"{where}: type must be one of {LAYER_TYPES} (got {raw.get('type')!r})")
        spec = LayerSpec(**raw)
        if not isinstance(spec.channels, int) or spec.channels < 1:
            raise FlowError(f"{where}: channels must be a positive integer")
        for name in ("kernel", "stride", "repeat", "dilation"):
            if not isinstance(getattr(spec, name), int) or getattr(spec, name) < 1:
                raise FlowError(f"{where}: {name} must be a positive integer")
        if spec.groups != "depthwise" and (not isinstance(spec.groups, int) or spec.groups < 1):
            raise FlowError(f"{where}: groups must be a positive integer or 'depthwise'")
        _check_bits(spec.weight_bits, where)
        _check_bits(spec.act_bits, where)
        if spec.activation not in ACTIVATIONS:
            raise FlowError(f"{where}: activation must be one of {ACTIVATIONS} (got {spec.activation!r})")
        if spec.activation == "swish" and spec.act_bits is not None:
            raise FlowError(f"{where}: swish is float only; set act_bits: null or use relu (thresholds need a monotonic activation)")
        layers.append(spec)
    if not layers:
        raise FlowError(f"{source}: a model needs at least one layer")
    head = data.get("head", {}) or {}
    extra = {k: v for k, v in data.items() if k not in ("name", "description", "input", "layers", "head")}
    return ModelSpec(
        name=str(data["name"]),
        layers=layers,
        input_bits=_check_bits((data.get("input") or {}).get("act_bits", 8), f"{source} input"),
        head_weight_bits=_check_bits(head.get("weight_bits", 8), f"{source} head"),
        head_bias=bool(head.get("bias", False)),
        classes=int(head.get("classes", 5)),
        description=str(data.get("description", "")),
        source=source,
        extra=extra,
    )


def resolve_model_path(name_or_path: str) -> Path:
    """A YAML path, or the name of a shipped model in models/."""
    path = Path(name_or_path)
    if path.exists():
        return path
    shipped = MODELS_DIR / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    available = ", ".join(sorted(p.stem for p in MODELS_DIR.glob("*.yaml")))
    raise FlowError(f"model {name_or_path!r} not found as a file or in {MODELS_DIR} (available: {available})")


def load_model_spec(name_or_path: str) -> ModelSpec:
    path = resolve_model_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise FlowError(f"{path}: not valid YAML ({exc})") from None
    return parse_model(data, str(path))
