"""Target boards: `targets/<name>.yaml`, validated on load."""
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from flow.errors import FlowError
from flow.paths import REPO_ROOT

TARGETS_DIR = REPO_ROOT / "targets"
RESOURCE_KEYS = ("lut", "ff", "bram18", "uram", "dsp")
FLOWS = ("vivado", "vitis", "cost-model-only")


@dataclass(frozen=True)
class Target:
    name: str
    board: str
    part: str
    family: str
    clock_mhz: float
    resources: dict[str, int]
    interface: dict
    flow: str
    aie: dict = field(default_factory=dict)

    @property
    def builds_hardware(self) -> bool:
        return self.flow != "cost-model-only"


def available_targets() -> list[str]:
    return sorted(p.stem for p in TARGETS_DIR.glob("*.yaml") if not p.name.endswith(".calibration.yaml"))


def load_target(name: str) -> Target:
    path = TARGETS_DIR / f"{name}.yaml"
    if not path.exists():
        raise FlowError(f"unknown target {name!r}; available: {', '.join(available_targets())}")
    return parse_target(yaml.safe_load(path.read_text()), path)


def parse_target(data: dict, source: Path | str = "<dict>") -> Target:
    required = ("name", "board", "part", "family", "clock_mhz", "resources", "interface", "flow")
    missing = [k for k in required if k not in (data or {})]
    if missing:
        raise FlowError(f"{source}: target file misses {', '.join(missing)}")
    resources = data["resources"]
    if set(resources) != set(RESOURCE_KEYS) or not all(isinstance(v, int) and v >= 0 for v in resources.values()):
        raise FlowError(f"{source}: resources must give non-negative integers for exactly {', '.join(RESOURCE_KEYS)}")
    if not (isinstance(data["clock_mhz"], int | float) and 0 < data["clock_mhz"] <= 1000):
        raise FlowError(f"{source}: clock_mhz must be a frequency in MHz (got {data['clock_mhz']!r})")
    if data["flow"] not in FLOWS:
        raise FlowError(f"{source}: flow must be one of {FLOWS}")
    if data["flow"] == "cost-model-only" and not data.get("aie"):
        raise FlowError(f"{source}: a cost-model-only target needs its `aie` section")
    return Target(name=str(data["name"]), board=str(data["board"]), part=str(data["part"]), family=str(data["family"]),
                  clock_mhz=float(data["clock_mhz"]), resources=dict(resources), interface=dict(data["interface"]),
                  flow=data["flow"], aie=dict(data.get("aie") or {}))
