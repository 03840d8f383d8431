"""Target boards: `targets/<name>.yaml` (or an explicit target file), validated on load.

Schema: name, board, part, family (strings of the patterns below), clock_mhz (MHz, 0 < f <= 1000),
resources (non-negative integers for exactly lut, ff, bram18, uram, dsp), interface (optional
axis_bits, dma, ps), flow (vivado | vitis | cost-model-only) and, for cost-model-only targets,
aie (positive numbers). Unknown fields are refused, so a typo is not silently ignored.
"""
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from flow.errors import FlowError
from flow.paths import REPO_ROOT

TARGETS_DIR = REPO_ROOT / "targets"
RESOURCE_KEYS = ("lut", "ff", "bram18", "uram", "dsp")
FLOWS = ("vivado", "vitis", "cost-model-only")
REQUIRED = ("name", "board", "part", "family", "clock_mhz", "resources", "interface", "flow")
INTERFACE_KEYS = ("axis_bits", "dma", "ps")
# Names and the part go into build paths, Tcl and the PYNQ driver: only these spellings pass.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
BOARD = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+-]{0,63}")
PART = re.compile(r"[a-z][a-z0-9]*(-[A-Za-z0-9]+){0,4}")


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
    source: Path | None = None  # the YAML it was read from

    def __post_init__(self):
        # Codegen writes these into Tcl and Python: a Target built in code passes the same checks.
        for key, pattern in (("name", NAME), ("board", BOARD), ("part", PART), ("family", NAME)):
            if not isinstance(getattr(self, key), str) or not pattern.fullmatch(getattr(self, key)):
                raise FlowError(f"target {key} {getattr(self, key)!r} is not allowed (schema in flow/hw/targets.py)")

    @property
    def builds_hardware(self) -> bool:
        return self.flow != "cost-model-only"


def available_targets() -> list[str]:
    return sorted(p.stem for p in TARGETS_DIR.glob("*.yaml") if not p.name.endswith(".calibration.yaml"))


def load_target(name_or_path) -> Target:
    """A shipped target by name (`targets/<name>.yaml`), or an explicit target file: a path with a
    `/` or a .yaml suffix. Either way the file is validated against the schema before any of it
    is used (its names end up in build paths, Tcl and the driver)."""
    text = str(name_or_path)
    if NAME.fullmatch(text) and (TARGETS_DIR / f"{text}.yaml").is_file():
        path = TARGETS_DIR / f"{text}.yaml"
    elif isinstance(name_or_path, Path) or "/" in text or text.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
        if not path.is_file():
            raise FlowError(f"target file {path} does not exist (or is not a file); "
                            f"shipped targets: {', '.join(available_targets())}")
    else:
        raise FlowError(f"unknown target {text!r}; available: {', '.join(available_targets())} "
                        "(or a target file path, e.g. ./my-board.yaml)")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FlowError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return parse_target(data, path)


def is_shipped(target: "Target") -> bool:
    """A target of targets/ (it has a stored calibration); else a target file of the user's."""
    return target.source is None or Path(target.source).resolve().parent == TARGETS_DIR.resolve()


def parse_target(data: dict, source: Path | str = "<dict>") -> Target:
    """Validate a target mapping: every field present, of its type, names and the part spelled
    as the patterns above allow, and nothing else."""
    def bad(msg):
        raise FlowError(f"{source}: {msg} (schema in flow/hw/targets.py)")

    if not isinstance(data, dict):
        bad("a target file is a mapping of name, board, part, family, clock_mhz, resources, interface, flow")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        bad(f"target file misses {', '.join(missing)}")
    unknown = sorted(set(map(str, data)) - set(REQUIRED) - {"aie"})
    if unknown:
        bad(f"unknown field(s) {', '.join(unknown)}")
    for key, pattern, what in (("name", NAME, "letters, digits, - and _"), ("board", BOARD, "letters, digits, spaces, . _ + -"),
                               ("part", PART, "a Xilinx part number such as xc7z020clg400-1"),
                               ("family", NAME, "letters, digits, - and _")):
        if not isinstance(data[key], str) or not pattern.fullmatch(data[key]):
            bad(f"{key} must be {what} (got {data[key]!r})")
    resources = data["resources"]
    if not isinstance(resources, dict) or set(resources) != set(RESOURCE_KEYS) or \
            not all(_count(v) for v in resources.values()):
        bad(f"resources must give non-negative integers for exactly {', '.join(RESOURCE_KEYS)}")
    clock = data["clock_mhz"]
    if isinstance(clock, bool) or not isinstance(clock, int | float) or not 0 < clock <= 1000:
        bad(f"clock_mhz must be a frequency in MHz, 0 < f <= 1000 (got {clock!r})")
    interface = data["interface"]
    if not isinstance(interface, dict) or not set(interface) <= set(INTERFACE_KEYS):
        bad(f"interface must be a mapping of {', '.join(INTERFACE_KEYS)}")
    if "axis_bits" in interface and not (_count(interface["axis_bits"]) and interface["axis_bits"] % 8 == 0 and interface["axis_bits"]):
        bad(f"interface.axis_bits must be a positive multiple of 8 (got {interface['axis_bits']!r})")
    for key in ("dma", "ps"):
        if key in interface and not (isinstance(interface[key], str) and NAME.fullmatch(interface[key])):
            bad(f"interface.{key} must be a name of letters, digits, - and _ (got {interface[key]!r})")
    if data["flow"] not in FLOWS:
        bad(f"flow must be one of {FLOWS}")
    aie = data.get("aie") or {}
    if not isinstance(aie, dict) or not all(isinstance(k, str) and _positive(v) for k, v in aie.items()):
        bad("aie must map names to positive numbers")
    if data["flow"] == "cost-model-only" and not aie:
        bad("a cost-model-only target needs its `aie` section")
    return Target(name=data["name"], board=data["board"], part=data["part"], family=data["family"],
                  clock_mhz=float(clock), resources=dict(resources), interface=dict(interface), flow=data["flow"],
                  aie=dict(aie), source=None if source == "<dict>" else Path(source))


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _positive(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0
