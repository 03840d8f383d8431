"""Model files: the spec and the weights together, loaded without running pickled code."""
import os
from pathlib import Path

import torch

from flow.errors import FlowError
from flow.nn.config import ModelSpec, load_model_spec, parse_model
from flow.nn.model import Basecaller, build_model
from flow.nn.pretrained import load_pretrained
from flow.paths import MODELS_DIR


def atomic_save(obj, path: Path) -> None:
    """Write to a temporary file and rename, so an interrupted save never leaves a torn file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_model(model: Basecaller, path: Path, meta: dict | None = None) -> None:
    atomic_save({"spec": model.spec.to_dict(), "state_dict": model.state_dict(), "meta": meta or {}}, path)


def load_model(path_or_name: str) -> tuple[Basecaller, dict]:
    """A model file (.pt); a shipped model name (models/<name>.pt beside its YAML); or a
    model YAML with a `pretrained:` entry (weights from shared data, e.g. the teacher)."""
    path = Path(path_or_name)
    if not path.exists() or path.suffix in (".yaml", ".yml"):
        trained = MODELS_DIR / f"{path_or_name}.pt"
        if trained.exists():
            path = trained
        else:
            spec = load_model_spec(path_or_name)
            if "pretrained" not in spec.extra:
                raise FlowError(f"model {path_or_name!r}: no trained weights ({trained} is not shipped); train it with `rubicon train`")
            return load_pretrained(spec), {"pretrained": spec.extra["pretrained"]}
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        spec: ModelSpec = parse_model(blob["spec"], str(path))
        model = build_model(spec)
        model.load_state_dict(blob["state_dict"])
    except (RuntimeError, KeyError, OSError, EOFError) as exc:
        raise FlowError(f"{path}: not a rubicon model file or corrupt ({type(exc).__name__}: {exc})") from None
    model.eval()
    return model, blob.get("meta", {})

