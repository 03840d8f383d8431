"""What an op instantiates in C++: a Kernel record (a template instance of a kernel in hls/, its
constant tables, its latency) and the helpers the ops share to write their tables.

The latency is the pipeline depth the cycle simulator gives the kernel's output (cycles from
taking a beat to the word being readable downstream; a model of the Vitis HLS schedule,
corrected by calibration).
"""
from dataclasses import dataclass, field

import numpy as np

from flow.errors import FlowError
from flow.ir.ops.cpp import array_literal, identifier, signed_type_holding


@dataclass
class Kernel:
    node: str                 # dataflow node name
    op_type: str
    cpp_type: str             # rubicon::... template instance
    params: str = ""          # constants struct (may be empty)
    inputs: list[str] = field(default_factory=list)   # tensor names, in step() order
    outputs: list[str] = field(default_factory=list)
    latency: int = 1
    words: dict[str, tuple[str, int]] = field(default_factory=dict)  # output → (element type, width) when not the op's
    side_outputs: list[str] = field(default_factory=list)            # per-chunk outputs that end in the output trailer
    pragmas: list[str] = field(default_factory=list)                 # lines at the top of the kernel's loop function

    @property
    def ident(self) -> str:
        return identifier(self.node)


def _native(values: np.ndarray) -> str:
    """The smallest C integer type holding the values."""
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    for bits in (8, 16, 32):
        if -(2 ** (bits - 1)) <= lo and hi < 2 ** (bits - 1):
            return f"int{bits}_t"
    return "int64_t"


def params_struct(name: str, arrays: dict[str, tuple[str, np.ndarray]]) -> str:
    """struct <name>_P { static const T a[..]; } plus the out-of-class definitions.

    Synthesis stores each table in its exact ap_int width; the C simulations store the same
    values in native integers, which g++ initialises statically (hundreds of thousands of
    ap_int constructors would each be code)."""
    decls, defs = [], []
    for array, (cty, values) in arrays.items():
        dims = "".join(f"[{d}]" for d in values.shape)
        type_name = f"{name}_{array}_t"
        decls += ["#ifdef RUBICON_EXACT_TYPES", f"    typedef {cty} {type_name};", "#else",
                  f"    typedef {_native(values)} {type_name};", "#endif",
                  f"    static const {type_name} {array}{dims};"]
        defs.append(f"const {name}_P::{type_name} {name}_P::{array}{dims} = {array_literal(values)};")
    return f"struct {name}_P {{\n" + "\n".join(decls) + "\n};\n" + "\n".join(defs) + "\n"


STORAGE = {"block": "bram", "distributed": "lutram", "ultra": "uram"}  # ramStyle → Vitis HLS impl


def storage_pragmas(name: str, ram_style: str, arrays: dict) -> list[str]:
    """BIND_STORAGE pragmas placing the node's constant tables as its ramStyle says (auto: HLS decides)."""
    impl = STORAGE.get(ram_style)
    if impl is None:
        return []
    return [f"#pragma HLS BIND_STORAGE variable = {name}_P::{array} type = rom_2p impl = {impl}" for array in arrays]


def folded_thresholds(thresholds: np.ndarray, channels: int, pe: int) -> tuple[str, np.ndarray, int]:
    """Thresholds [C, L] → (a type that holds them, [PE][C/PE][L], L levels)."""
    thr = thresholds.astype(np.int64)
    levels = thr.shape[1]
    return signed_type_holding(thr), thr.reshape(channels // pe, pe, levels).transpose(1, 0, 2), levels


def check_divides(node, what: str, total: int, part: int) -> None:
    if part < 1 or total % part:
        raise FlowError(f"{node.name} ({node.op_type}): {what} = {part} does not divide {total}; "
                        "choose a folding whose parallelism divides the dimension (rubicon build --fps/--fit does)")
