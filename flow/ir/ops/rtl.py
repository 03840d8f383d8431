"""What an op instantiates in RTL: its SystemVerilog twin in hls/rtl/ (an alternative to the HLS
kernel, for Verilator co-simulation and Yosys resource counts), with the parameters and constant
tables of one node.

Conventions every twin follows (hls/rtl/README.md says the same for the SystemVerilog side):
- ports `clk`, `rst_n` (synchronous, active low), then per stream input `s_<name>_tdata/_tvalid/
  _tready` and per output `m_<name>_tdata/_tvalid/_tready`; one input is `s_in`, one output `m_out`.
- a beat packs its elements little end first: element p at tdata[p*BITS +: BITS], two's
  complement for signed types (the C++ `rubicon::Word` order).
- constant tables are `$readmemh` files, one element per line, in the order of the C++ params
  struct arrays flattened row-major; the file name is a string parameter.
"""
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class StreamPort:
    name: str        # port prefix without s_/m_: "in", "in1", "out0", ...
    width: int       # elements per beat
    bits: int        # bits per element
    signed: bool

    @property
    def tdata_bits(self) -> int:
        return self.width * self.bits

    def pack(self, values: np.ndarray) -> list[int]:
        """Elements in stream order (any shape, C order) → beats as unsigned integers."""
        flat = np.asarray(values, dtype=np.int64).ravel()
        if flat.size % self.width:
            raise ValueError(f"port {self.name}: {flat.size} elements do not fill beats of {self.width}")
        lo, hi = (-(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1) if self.signed else (0, (1 << self.bits) - 1)
        if flat.size and (flat.min() < lo or flat.max() > hi):
            raise ValueError(f"port {self.name}: values [{flat.min()}, {flat.max()}] exceed {self.bits}-bit "
                             f"{'signed' if self.signed else 'unsigned'}")
        mask = (1 << self.bits) - 1
        beats = []
        for i in range(0, flat.size, self.width):
            word = 0
            for p, v in enumerate(flat[i:i + self.width].tolist()):
                word |= (v & mask) << (p * self.bits)
            beats.append(word)
        return beats

    def unpack(self, beats: list[int]) -> np.ndarray:
        """Beats → elements in stream order (1-D int64)."""
        mask = (1 << self.bits) - 1
        out = np.empty(len(beats) * self.width, dtype=np.int64)
        for i, word in enumerate(beats):
            for p in range(self.width):
                v = (word >> (p * self.bits)) & mask
                out[i * self.width + p] = v - (1 << self.bits) if self.signed and v >> (self.bits - 1) else v
        return out


@dataclass
class RtlInstance:
    """One node's twin: `module` in hls/rtl/<sources>, its parameters, tables and stream ports."""
    node: str
    module: str
    sources: list[str]                                   # file names in hls/rtl/, dependencies first
    params: dict[str, int | str] = field(default_factory=dict)
    # file parameter → (bits, values); a list of arrays is one file per memory, <stem>0.hex, <stem>1.hex, ...,
    # and the parameter is the stem
    tables: dict[str, tuple[int, np.ndarray | list[np.ndarray]]] = field(default_factory=dict)
    inputs: list[StreamPort] = field(default_factory=list)
    outputs: list[StreamPort] = field(default_factory=list)


def write_tables(inst: RtlInstance, root: Path, folder: str = "", prefix: str = "") -> dict[str, str]:
    """Write the instance's tables under root/folder as <prefix><parameter>.hex (or one file per memory)
    and return the file parameters as paths relative to root (simulators and Yosys run in root)."""
    params = {}
    for name, (bits, values) in inst.tables.items():
        stem = f"{folder}/{prefix}{name.lower()}" if folder else f"{prefix}{name.lower()}"
        if isinstance(values, list):
            for i, part in enumerate(values):
                (root / f"{stem}{i}.hex").write_text(hex_lines(part, bits))
            params[name] = stem
        else:
            (root / f"{stem}.hex").write_text(hex_lines(values, bits))
            params[name] = f"{stem}.hex"
    return params


def sv_literal(value) -> str:
    """A parameter value as SystemVerilog source: a string quoted, an integer as written."""
    return f'"{value}"' if isinstance(value, str) else str(int(value))


def hex_lines(values: np.ndarray, bits: int) -> str:
    """One element per line as $readmemh reads it (two's complement at `bits`)."""
    mask = (1 << bits) - 1
    return "".join(f"{int(v) & mask:x}\n" for v in np.asarray(values).ravel())
