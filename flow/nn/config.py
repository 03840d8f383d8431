"""Model YAML: schema, validation and loading.

A model file names its layers in order; every layer gives its own weight and activation
bit-widths (2..8, or null for float). Layer types:

- `conv`: convolution (optionally grouped, strided) → BatchNorm → activation.
- `separable`: grouped or depthwise convolution → quantizer → pointwise convolution →
  BatchNorm → activation (RUBICALL / Bonito building block). `repeat` stacks it;
  `residual: true` adds a pointwise+BatchNorm skip around the stack (Bonito block).
- `pool`: the pooling slot as a strided convolution (`stride`).
- `dynamic_pool`: dynamic pooling (`flow.nn.dynamic_pool`, DESIGN §6): a feature conv
  (`channels`, `kernel`), a predictor (`predictor_kernel`, `predictor_channels`) and a
  learned rate of about one frame per `norm_target` samples. `stride` is the static frame
  budget used at inference, Lmax = T // stride (the hardware's fixed output length), so
  `norm_target` ≥ `stride`; `lut_bits`, `importance_bits` and `move_frac_bits` size the
  fixed-point form (quantized layers). At most one per model; the network's outputs then
  have per-row lengths.

The CTC head is a pointwise convolution to 5 classes (blank, A, C, G, T).
"""
from dataclasses import dataclass, field
from pathlib import Path
import yaml

from flow.errors import FlowError
from flow.nn.resolve import resolve_model

LAYER_TYPES = ("conv", "separable", "pool", "dynamic_pool")
DYNAMIC_POOL_KEYS = {"norm_target", "predictor_kernel", "predictor_channels", "lut_bits", "importance_bits", "move_frac_bits"}
LAYER_KEYS = {"type", "channels", "kernel", "stride", "groups", "weight_bits", "act_bits", "repeat", "residual", "dilation",
              "activation"} | DYNAMIC_POOL_KEYS
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
    activation: str = "relu"  # or swish: float, or quantized as swish(max(x, x₀)) (monotone, flow.nn.layers)
    # dynamic_pool only
    norm_target: float = 3.0
    predictor_kernel: int = 9
    predictor_channels: int = 16
    lut_bits: int = 8
    importance_bits: int = 8
    move_frac_bits: int = 8


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
    if not isinstance(data["layers"], list):
        raise FlowError(f"{source}: `layers` must be a list of layer mappings (got {data['layers']!r})")
    for key in ("input", "head"):
        if not isinstance(data.get(key) or {}, dict):
            raise FlowError(f"{source}: `{key}` must be a mapping (got {data[key]!r})")
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
        for name in ("channels", "kernel", "stride", "repeat", "dilation"):
            value = getattr(spec, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise FlowError(f"{where}: {name} must be a positive integer (got {value!r})")
        if not isinstance(spec.residual, bool):
            raise FlowError(f"{where}: residual must be true or false (got {spec.residual!r})")
        if spec.groups != "depthwise" and (not isinstance(spec.groups, int) or spec.groups < 1):
            raise FlowError(f"{where}: groups must be a positive integer or 'depthwise'")
        _check_bits(spec.weight_bits, where)
        _check_bits(spec.act_bits, where)
        if spec.activation not in ACTIVATIONS:
            raise FlowError(f"{where}: activation must be one of {ACTIVATIONS} (got {spec.activation!r})")
        if spec.type == "dynamic_pool":
            _check_dynamic_pool(spec, where)
        elif set(raw) & DYNAMIC_POOL_KEYS:
            raise FlowError(f"{where}: {sorted(set(raw) & DYNAMIC_POOL_KEYS)} only apply to dynamic_pool layers")
        layers.append(spec)
    if sum(layer.type == "dynamic_pool" for layer in layers) > 1:
        raise FlowError(f"{source}: at most one dynamic_pool layer per model")
    if not layers:
        raise FlowError(f"{source}: a model needs at least one layer")
    head = data.get("head", {}) or {}
    classes = head.get("classes", 5)
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 2:
        raise FlowError(f"{source} head: classes must be an integer >= 2 (got {classes!r})")
    if not isinstance(head.get("bias", False), bool):
        raise FlowError(f"{source} head: bias must be true or false (got {head['bias']!r})")
    extra = {k: v for k, v in data.items() if k not in ("name", "description", "input", "layers", "head")}
    return ModelSpec(
        name=str(data["name"]),
        layers=layers,
        input_bits=_check_bits((data.get("input") or {}).get("act_bits", 8), f"{source} input"),
        head_weight_bits=_check_bits(head.get("weight_bits", 8), f"{source} head"),
        head_bias=head.get("bias", False),
        classes=classes,
        description=str(data.get("description", "")),
        source=source,
        extra=extra,
    )


def _check_dynamic_pool(spec: LayerSpec, where: str) -> None:
    if not isinstance(spec.norm_target, int | float) or isinstance(spec.norm_target, bool) or not spec.norm_target > 1:
        raise FlowError(f"{where}: norm_target (samples per output frame) must be a number > 1 (got {spec.norm_target!r})")
    spec.norm_target = float(spec.norm_target)
    if spec.norm_target < spec.stride:
        raise FlowError(f"{where}: norm_target {spec.norm_target:g} is below the frame budget stride {spec.stride}: "
                        "most chunks would overflow Lmax = T // stride; raise norm_target or lower stride")
    for name in ("predictor_kernel", "predictor_channels", "lut_bits", "importance_bits", "move_frac_bits"):
        value = getattr(spec, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise FlowError(f"{where}: {name} must be a positive integer (got {value!r})")
    if spec.kernel % 2 == 0 or spec.predictor_kernel % 2 == 0:
        raise FlowError(f"{where}: kernel and predictor_kernel must be odd (same-length convolutions)")
    if not 2 <= spec.lut_bits <= 12 or spec.importance_bits > 16 or spec.move_frac_bits > 16:
        raise FlowError(f"{where}: lut_bits must be 2..12, importance_bits and move_frac_bits at most 16")
    if (spec.weight_bits is None) != (spec.act_bits is None):
        raise FlowError(f"{where}: a dynamic_pool layer is quantized (weight_bits and act_bits set) or float (both null)")
    if spec.groups != 1 or spec.repeat != 1 or spec.residual or spec.dilation != 1 or spec.activation != "relu":
        raise FlowError(f"{where}: dynamic_pool takes no groups, repeat, residual, dilation or activation")


def load_model_spec(name_or_path: str) -> ModelSpec:
    """A model YAML path, or the name of a shipped model in models/."""
    path = resolve_model(name_or_path, (".yaml",))
    if path.suffix not in (".yaml", ".yml"):
        raise FlowError(f"{path}: not a model YAML (.yaml); pass the YAML the model was trained from, or a shipped name")
    return parse_model(read_yaml(path), str(path))


def read_yaml(path: Path):
    """The parsed YAML of `path`, or one error line naming it."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FlowError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
