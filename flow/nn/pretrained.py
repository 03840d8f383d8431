"""Loading published Bonito v0.2 state dicts into the project's own model code.

Key mapping (Bonito v0.2 → flow.nn.model.Basecaller), b = encoder block, j = repeat:
- `e.encoder.b.conv.0.conv.weight`, `e.encoder.b.conv.1.*` (plain conv + BatchNorm)
  → `encoder.b.0.weight`, `encoder.b.1.*`
- `e.encoder.b.conv.{4j}.depthwise.weight` / `.pointwise.weight` → `encoder.b.body.j.grouped.weight` / `.pointwise.weight`
- `e.encoder.b.conv.{4j+1}.*` (BatchNorm after the pointwise) → `encoder.b.body.j.bn.*`
- `e.encoder.b.residual.0.conv.weight`, `e.encoder.b.residual.1.*` → `encoder.b.skip.0.weight`, `encoder.b.skip.1.*`
- `out.weight` [C, F] (linear), `out.bias` → `head.weight` [C, F, 1] (pointwise conv), `head.bias`
"""
import re

import torch

from flow.errors import FlowError
from flow.nn.config import ModelSpec
from flow.nn.model import Basecaller, build_model
from flow.paths import data_file

_PLAIN = re.compile(r"e\.encoder\.(\d+)\.conv\.0\.conv\.weight$")
_PLAIN_BN = re.compile(r"e\.encoder\.(\d+)\.conv\.1\.(\w+)$")
_SEPARABLE = re.compile(r"e\.encoder\.(\d+)\.conv\.(\d+)\.(depthwise|pointwise)\.weight$")
_SEPARABLE_BN = re.compile(r"e\.encoder\.(\d+)\.conv\.(\d+)\.(\w+)$")
_RESIDUAL = re.compile(r"e\.encoder\.(\d+)\.residual\.(\d)\.(?:conv\.)?(\w+)$")


def map_bonito_v02(state: dict, spec: ModelSpec) -> dict:
    """Rename (and reshape) a Bonito v0.2 state dict for a Basecaller built from `spec`."""
    out = {}
    for key, value in state.items():
        if m := _PLAIN.match(key):
            block = int(m[1])
            if spec.layers[block].type == "separable":
                raise FlowError(f"{key}: plain conv in block {block}, but the model YAML makes it separable")
            out[f"encoder.{block}.0.weight"] = value
        elif (m := _PLAIN_BN.match(key)) and spec.layers[int(m[1])].type != "separable":
            out[f"encoder.{m[1]}.1.{m[2]}"] = value
        elif m := _SEPARABLE.match(key):
            out[f"encoder.{m[1]}.body.{int(m[2]) // 4}.{'grouped' if m[3] == 'depthwise' else 'pointwise'}.weight"] = value
        elif m := _SEPARABLE_BN.match(key):
            out[f"encoder.{m[1]}.body.{int(m[2]) // 4}.bn.{m[3]}"] = value
        elif m := _RESIDUAL.match(key):
            out[f"encoder.{m[1]}.skip.{m[2]}.{m[3]}"] = value
        elif key == "out.weight":
            out["head.weight"] = value[:, :, None]
        elif key == "out.bias":
            out["head.bias"] = value
        else:
            raise FlowError(f"pretrained key {key} has no place in the Bonito v0.2 mapping")
    return out


def load_pretrained(spec: ModelSpec) -> Basecaller:
    """Build `spec` and load the weights its `pretrained:` entry names (path relative to shared data)."""
    info = spec.extra.get("pretrained") or {}
    if info.get("format") != "bonito_v0.2":
        raise FlowError(f"{spec.source}: pretrained format {info.get('format')!r} is not supported (bonito_v0.2 is)")
    path = data_file(info["file"])
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(spec)
    try:
        model.load_state_dict(map_bonito_v02(state, spec))
    except RuntimeError as exc:
        raise FlowError(f"{path}: weights do not fit {spec.source} ({str(exc).splitlines()[0]})") from None
    return model.eval()
