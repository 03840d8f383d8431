"""Model files: the spec and the weights together, loaded without running pickled code; and the
interrupt handling that lets a long run stop only at a step it can checkpoint."""
import contextlib
import os
import pickle
import signal
import warnings
from pathlib import Path

import torch

from flow.errors import FlowError
from flow.nn.config import ModelSpec, load_model_spec, parse_model
from flow.nn.model import Basecaller, build_model
from flow.nn.pretrained import load_pretrained
from flow.nn.resolve import resolve_model


def atomic_save(obj, path: Path) -> None:
    """Write to a temporary file and rename, so an interrupted save never leaves a torn file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


@contextlib.contextmanager
def deferred_interrupts():
    """Ctrl-C and SIGTERM only mark the run as stopping: the yielded list becomes non-empty, and the
    loop finishes its step, saves a checkpoint and raises `interrupted(...)`. Handlers are restored on exit."""
    stop = []
    previous = {sig: signal.signal(sig, lambda signum, frame: stop.append(signum)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def interrupted(step: int, checkpoint: Path) -> FlowError:
    return FlowError(f"interrupted at step {step}; checkpoint saved to {checkpoint}, rerun the same command to resume")


def save_model(model: Basecaller, path: Path, meta: dict | None = None) -> None:
    atomic_save({"spec": model.spec.to_dict(), "state_dict": model.state_dict(), "meta": meta or {}}, path)


def load_model(path_or_name: str) -> tuple[Basecaller, dict]:
    """A model file (.pt); a shipped model name (models/<name>.pt beside its YAML); or a
    model YAML with a `pretrained:` entry (weights from shared data, e.g. the teacher)."""
    path = resolve_model(path_or_name)
    if path.suffix in (".yaml", ".yml"):
        spec = load_model_spec(path)
        if "pretrained" not in spec.extra:
            raise FlowError(f"{path}: a model YAML without trained weights (no models/{path.stem}.pt is shipped and it "
                            "names no `pretrained:` weights); train it with `rubicon train` and pass the .pt")
        return load_pretrained(spec), {"pretrained": spec.extra["pretrained"]}
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing a file
            warnings.simplefilter("ignore")
            blob = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or not {"spec", "state_dict"} <= set(blob):
            raise ValueError("no `spec` and `state_dict`")
        spec: ModelSpec = parse_model(blob["spec"], str(path))
        model = build_model(spec)
        model.load_state_dict(blob["state_dict"])
    except pickle.UnpicklingError as exc:
        # weights_only: tensors and plain containers only; a pickled class or function is refused, never run
        if "weights only" in str(exc).lower():
            raise FlowError(f"{path}: holds pickled objects other than weights, refused (loading them would run their "
                            "code); a rubicon model file (from `rubicon train`) holds only tensors and its spec") from None
        raise FlowError(f"{path}: not a rubicon model file, or corrupt (not a torch archive)") from None
    except (RuntimeError, KeyError, OSError, EOFError, TypeError, ValueError, AttributeError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if isinstance(exc, ValueError | OSError) and str(exc).strip() else ""
        raise FlowError(f"{path}: not a rubicon model file, or corrupt ({type(exc).__name__}{': ' * bool(reason)}{reason})") from None
    model.eval()
    return model, blob.get("meta", {})
