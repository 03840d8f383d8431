"""The build manifest: which stages are done, with which inputs, so a rerun reuses them.

A stage's key hashes its parameters, the files it reads and the source code it runs (its
Python subpackages and the kernel library). A stage is redone when its key changes or an
output it recorded is missing. Before a stage runs its entry is dropped, and it is recorded
again only once its work has returned, i.e. after every output is written; the manifest is
rewritten atomically each time. So a build killed anywhere resumes at the stage it was in, and
a half-rewritten output is never taken for a finished one.
"""
import hashlib
import json
import os
import time
from pathlib import Path

from flow.paths import REPO_ROOT


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def code_digest(*relative: str) -> str:
    """Hash of the source files under the given repo folders (e.g. "flow/ir", "hls")."""
    h = hashlib.sha256()
    for rel in relative:
        for path in sorted((REPO_ROOT / rel).rglob("*")):
            if path.suffix in (".py", ".h", ".cpp", ".yaml") and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(REPO_ROOT)).encode())
                h.update(path.read_bytes())
    return h.hexdigest()


class Manifest:
    def __init__(self, build_dir: Path):
        self.dir = Path(build_dir)
        self.path = self.dir / "manifest.json"
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {"stages": {}}

    def key(self, params: dict, files: list[Path] = (), code: tuple[str, ...] = ()) -> str:
        h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
        for f in files:
            h.update(file_digest(f).encode())
        h.update(code_digest(*code).encode())
        return h.hexdigest()

    def done(self, stage: str, key: str) -> dict | None:
        """The stage's recorded result if it ran with this key and its outputs still exist."""
        entry = self.data["stages"].get(stage)
        if entry and entry["key"] == key and all((self.dir / o).exists() for o in entry["outputs"]):
            return entry
        return None

    def forget(self, stage: str) -> None:
        """Drop a stage's entry before it runs again: its old outputs are about to be overwritten."""
        if self.data["stages"].pop(stage, None) is not None:
            self.save()

    def record(self, stage: str, key: str, outputs: list[str], seconds: float, result: dict | None = None) -> None:
        self.data["stages"][stage] = {"key": key, "outputs": outputs, "seconds": round(seconds, 3), "result": result or {},
                                      "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
        self.save()

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".partial")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)
