"""Which file a model argument names: the one resolver behind loading specs, loading weights and
keying the build's export stage, so all three read the same file for the same argument.

An existing file is taken as given. Anything else must be the name of a shipped model
(`models/<name>.pt` for trained weights, `models/<name>.yaml` for the spec): a plain name, so a
string such as `../x` never reaches outside models/.
"""
import re
from pathlib import Path

from flow.errors import FlowError
from flow.paths import MODELS_DIR

SHIPPED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
WEIGHTS_FIRST = (".pt", ".yaml")


def shipped_models() -> list[str]:
    return sorted({p.stem for p in MODELS_DIR.iterdir() if p.suffix in WEIGHTS_FIRST})


def resolve_model(name_or_path, suffixes: tuple[str, ...] = WEIGHTS_FIRST) -> Path:
    """An existing file as is; else `models/<name><suffix>` for the first suffix shipped."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.exists():
        raise FlowError(f"{path} is a directory, not a model file (.pt or .yaml)")
    name = str(name_or_path)
    if SHIPPED_NAME.fullmatch(name):
        for suffix in suffixes:
            if (MODELS_DIR / f"{name}{suffix}").is_file():
                return MODELS_DIR / f"{name}{suffix}"
    raise FlowError(f"model {name!r} not found as a file or in {MODELS_DIR} "
                    f"(available: {', '.join(shipped_models())})")
