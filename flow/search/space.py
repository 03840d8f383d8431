"""Search-space YAML (models/search/*.yaml): a fixed stem and head around searchable slots.

    name: qabas_pynq                  # the derived model's name
    input: {act_bits: 8}
    stem: {type: conv, channels: 48, kernel: 9, stride: 3, weight_bits: 8, act_bits: 6}
    slots:
      - repeat: 7                     # seven slots with these choices
        ops: {separable: [9, 15, 25], conv: [5], identity: true}
        channels: [64, 96]
        weight_bits: [2, 3, 4, 6, 8]
        act_bits: [2, 3, 4, 6]
    head: {classes: 5, weight_bits: 8}

Each slot chooses, independently, an op (a depthwise-separable or dense convolution of one of
the listed kernel sizes, or `identity`: the slot is dropped, which searches the depth), an
output channel width, a weight and an activation bit-width (2..8). Identity is legal at any
width because the supernet carries every tensor at the widest width with the unused channels
zero (FBNetV2 channel masking): the slot then passes its input, with the input's width, on.
A `zero` op is not offered: the searched layers form a chain without skips, where zero would
cut the signal. Slots keep the stem's frame rate (stride 1, 'same' padding). Dynamic pooling is
not searchable yet: a space with a `dynamic_pool` key is refused.
"""
from dataclasses import dataclass
from pathlib import Path

from flow.errors import FlowError
from flow.nn.config import LayerSpec, ModelSpec, parse_model, read_yaml

TOP_KEYS = {"name", "description", "input", "stem", "slots", "head"}
SLOT_KEYS = {"repeat", "ops", "channels", "weight_bits", "act_bits"}
CONV_OPS = ("separable", "conv")
IDENTITY = ("identity", 0)


@dataclass(frozen=True)
class Slot:
    """One searchable layer: ops are (type, kernel) pairs, ("identity", 0) for the skip."""
    ops: tuple[tuple[str, int], ...]
    channels: tuple[int, ...]
    weight_bits: tuple[int, ...]
    act_bits: tuple[int, ...]

    @property
    def factors(self) -> dict[str, tuple]:
        """The independent choices of the slot, in the order of its cost table's axes."""
        return {"op": self.ops, "channels": self.channels, "weight_bits": self.weight_bits, "act_bits": self.act_bits}


@dataclass
class SearchSpace:
    name: str
    description: str
    stem: LayerSpec
    slots: list[Slot]
    head_weight_bits: int
    classes: int
    input_bits: int
    source: str

    @property
    def width(self) -> int:
        """The supernet's tensor width: the widest the stem or any slot may produce."""
        return max([self.stem.channels] + [c for s in self.slots for c in s.channels])

    @property
    def stride(self) -> int:
        return self.stem.stride


def _ints(value, where: str, lo: int, hi: int | None = None, odd: bool = False) -> tuple[int, ...]:
    ok = isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) and v >= lo
                                                   and (hi is None or v <= hi) and (not odd or v % 2) for v in value)
    if not ok or len(set(value)) != len(value):
        rng = f"from {lo} to {hi}" if hi else f"≥ {lo}"
        raise FlowError(f"{where}: must be a non-empty list of distinct {'odd ' if odd else ''}integers {rng} "
                        f"(got {value!r})")
    return tuple(value)


def _slot(raw, where: str) -> tuple[int, Slot]:
    if not isinstance(raw, dict):
        raise FlowError(f"{where}: expected a mapping with {sorted(SLOT_KEYS)}, got {raw!r}")
    unknown = set(raw) - SLOT_KEYS
    if unknown:
        raise FlowError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(SLOT_KEYS)}")
    missing = {"ops", "channels", "weight_bits", "act_bits"} - set(raw)
    if missing:
        raise FlowError(f"{where}: missing {sorted(missing)}")
    repeat = raw.get("repeat", 1)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
        raise FlowError(f"{where}.repeat: must be a positive integer (got {repeat!r})")
    ops_raw = raw["ops"]
    if not isinstance(ops_raw, dict) or not ops_raw:
        raise FlowError(f"{where}.ops: must be a mapping such as {{separable: [9, 15], conv: [5], identity: true}} "
                        f"(got {ops_raw!r})")
    ops = []
    for key, value in ops_raw.items():
        if key in CONV_OPS:
            ops += [(key, k) for k in _ints(value, f"{where}.ops.{key}", 1, odd=True)]
        elif key == "identity":
            if not isinstance(value, bool):
                raise FlowError(f"{where}.ops.identity: must be true or false (got {value!r})")
            ops += [IDENTITY] if value else []
        else:
            raise FlowError(f"{where}.ops: unknown op {key!r}; allowed: separable, conv (kernel lists), identity "
                            "(dynamic pooling is not searchable)")
    if not any(t in CONV_OPS for t, _ in ops):
        raise FlowError(f"{where}.ops: needs at least one separable or conv kernel")
    return repeat, Slot(tuple(ops), _ints(raw["channels"], f"{where}.channels", 1),
                        _ints(raw["weight_bits"], f"{where}.weight_bits", 2, 8),
                        _ints(raw["act_bits"], f"{where}.act_bits", 2, 8))


def parse_space(data, source: str = "<dict>") -> SearchSpace:
    """Validate a search-space dict (as loaded from YAML); every error is one line naming source and key."""
    if not isinstance(data, dict):
        raise FlowError(f"{source}: a search space is a mapping with {sorted(TOP_KEYS)}")
    unknown = set(data) - TOP_KEYS
    if unknown:
        hint = " (dynamic pooling is not searchable yet)" if "dynamic_pool" in unknown else ""
        raise FlowError(f"{source}: unknown keys {sorted(unknown)}{hint}; allowed: {sorted(TOP_KEYS)}")
    for key in ("name", "stem", "slots"):
        if key not in data:
            raise FlowError(f"{source}: missing `{key}`")
    if not isinstance(data["stem"], dict) or data["stem"].get("type") != "conv":
        raise FlowError(f"{source} stem: must be a conv layer mapping (got {data['stem']!r})")
    if not isinstance(data["slots"], list) or not data["slots"]:
        raise FlowError(f"{source} slots: must be a non-empty list of slot mappings")
    # stem, input and head are ordinary model parts: the model schema checks them
    fixed: ModelSpec = parse_model({"name": data["name"], "input": data.get("input"), "layers": [data["stem"]],
                                    "head": data.get("head")}, f"{source} stem/head")
    stem = fixed.layers[0]
    if stem.weight_bits is None or stem.act_bits is None or fixed.input_bits is None or fixed.head_weight_bits is None:
        raise FlowError(f"{source} stem/head: the searched model runs on the board; give the stem, input and head bit-widths")
    if stem.repeat != 1 or stem.groups != 1 or stem.residual:
        raise FlowError(f"{source} stem: a plain conv (no repeat, groups or residual)")
    slots = []
    for i, raw in enumerate(data["slots"]):
        repeat, slot = _slot(raw, f"{source} slots[{i}]")
        slots += [slot] * repeat
    return SearchSpace(name=str(data["name"]), description=str(data.get("description", "")), stem=stem, slots=slots,
                       head_weight_bits=fixed.head_weight_bits, classes=fixed.classes, input_bits=fixed.input_bits,
                       source=source)


def load_space(path) -> SearchSpace:
    path = Path(path)
    if not path.is_file():
        raise FlowError(f"{path}: search space not found (see models/search/*.yaml)")
    return parse_space(read_yaml(path), str(path))
