"""One emitter per dataflow op: the `hls/` kernel it instantiates, its constants, its latency.

Each emitter returns a Kernel: the C++ type (a template instance of a kernel in hls/), the
struct holding its weights and thresholds in the layout that kernel reads, and the pipeline
depth the cycle simulator gives the kernel's output (cycles from taking a beat to the word
being readable downstream; a model of the Vitis HLS schedule, corrected by calibration).
"""
from dataclasses import dataclass, field
from math import ceil, log2

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from flow.codegen.cpp import array_literal, ctype, identifier, signed_type_holding
from flow.errors import FlowError


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


def _params(name: str, arrays: dict[str, tuple[str, np.ndarray]]) -> str:
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


def _storage(name: str, a: dict, arrays: dict) -> list[str]:
    """BIND_STORAGE pragmas placing the node's constant tables as its ramStyle says (auto: HLS decides)."""
    impl = STORAGE.get(a.get("ramStyle", "auto"))
    if impl is None:
        return []
    return [f"#pragma HLS BIND_STORAGE variable = {name}_P::{array} type = rom_2p impl = {impl}" for array in arrays]


def _thresholds(model: ModelWrapper, node, channels: int, pe: int) -> tuple[str, np.ndarray, int]:
    """Thresholds [C, L] → [PE][C/PE][L] with a type that holds them; L levels."""
    thr = model.get_initializer(node.input[-1]).astype(np.int64)
    levels = thr.shape[1]
    folded = thr.reshape(channels // pe, pe, levels).transpose(1, 0, 2)
    return signed_type_holding(thr), folded, levels


def _attrs(node) -> dict:
    """Every attribute of the op, defaults included."""
    op = getCustomOp(node)
    return {name: op.get_nodeattr(name) for name in op.get_nodeattr_types()}


def _frames(a) -> int:
    return a["numInputVectors"][1]


def _check_divides(node, what: str, total: int, part: int) -> None:
    if part < 1 or total % part:
        raise FlowError(f"{node.name} ({node.op_type}): {what} = {part} does not divide {total}; "
                        "choose a folding whose parallelism divides the dimension (rubicon build --fps/--fit does)")


def fmpadding(model, node) -> Kernel:
    a = _attrs(node)
    _check_divides(node, "SIMD", a["NumChannels"], a["SIMD"])
    left, right = a["Pad"]
    return Kernel(node.name, node.op_type, f"rubicon::FMPadding1D<{a['NumChannels']}, {a['SIMD']}, {a['ImgDim']}, {left}, "
                  f"{right}, {ctype(a['inputDataType'])}>", latency=1)


def sliding_window(model, node) -> Kernel:
    a = _attrs(node)
    _check_divides(node, "SIMD", a["IFMChannels"], a["SIMD"])
    return Kernel(node.name, node.op_type,
                  f"rubicon::SlidingWindow1D<{a['IFMChannels']}, {a['SIMD']}, {a['ConvKernelDim']}, {a['Stride']}, "
                  f"{a['Dilation']}, {a['IFMDim']}, {a['OFMDim']}, {'true' if a['depthwise'] else 'false'}, "
                  f"{ctype(a['inputDataType'])}, {a['TapsPerBeat']}>", latency=2)


def _thr_style(a) -> str:
    return "rubicon::THR_SEARCH" if a.get("thresholdStyle", "parallel") == "search" else "rubicon::THR_PARALLEL"


def mvau(model, node) -> Kernel:
    a = _attrs(node)
    mw, mh, simd, pe = a["MW"], a["MH"], a["SIMD"], a["PE"]
    _check_divides(node, "SIMD", mw, simd)
    _check_divides(node, "PE", mh, pe)
    name = identifier(node.name)
    w = model.get_initializer(node.input[1]).astype(np.int64)
    sf, nf = mw // simd, mh // pe
    weights = w.reshape(sf, simd, nf, pe).transpose(3, 2, 0, 1).reshape(pe, nf * sf, simd)
    packing = getCustomOp(node).dsp_packing()
    if packing is None:
        arrays = {"weights": (ctype(a["weightDataType"]), weights)}
        mul = f"rubicon::LutMultipliers<{name}_P>"
    else:
        arrays = {"wpacked": (f"ap_int<{packing.packed_bits}>", packing.pack(weights))}
        mul = f"rubicon::PackedDspMultipliers<{name}_P, {packing.lanes}, {packing.spacing}>"
    no_act = bool(a.get("noActivation", 0))
    if no_act:
        levels, bias = 1, 0
        arrays["thresholds"] = ("ap_int<2>", np.zeros((pe, nf, 1), dtype=np.int64))
    else:
        tty, thr, levels = _thresholds(model, node, mh, pe)
        arrays["thresholds"] = (tty, thr)
        bias = a.get("ActVal", 0)
    latency = 3 + ceil(log2(simd)) if simd > 1 else 3
    return Kernel(node.name, node.op_type,
                  f"rubicon::MVAU<{mw}, {mh}, {simd}, {pe}, {_frames(a)}, {'true' if no_act else 'false'}, {levels}, {bias}, "
                  f"{ctype(a['inputDataType'])}, {ctype(a['accDataType'])}, {ctype(a['outputDataType'])}, {name}_P, "
                  f"{mul}, {_thr_style(a)}>", _params(name, arrays), latency=latency, pragmas=_storage(name, a, arrays))


def vvau(model, node) -> Kernel:
    a = _attrs(node)
    c, k, pe, simd = a["Channels"], a["Kernel"], a["PE"], a.get("SIMD", 1)
    _check_divides(node, "PE", c, pe)
    _check_divides(node, "SIMD", k, simd)
    name = identifier(node.name)
    w = model.get_initializer(node.input[1]).astype(np.int64)
    weights = w.reshape(c // pe, pe, k // simd, simd).transpose(1, 0, 2, 3).reshape(pe, (c // pe) * (k // simd), simd)
    tty, thr, levels = _thresholds(model, node, c, pe)
    arrays = {"weights": (ctype(a["weightDataType"]), weights), "thresholds": (tty, thr)}
    latency = 4 + ceil(log2(simd)) if simd > 1 else 4
    return Kernel(node.name, node.op_type,
                  f"rubicon::VVAU<{c}, {k}, {pe}, {simd}, {_frames(a)}, {levels}, {a.get('ActVal', 0)}, "
                  f"{ctype(a['inputDataType'])}, {ctype(a['accDataType'])}, {ctype(a['outputDataType'])}, {name}_P, "
                  f"{_thr_style(a)}>", _params(name, arrays), latency=latency, pragmas=_storage(name, a, arrays))


def thresholding(model, node) -> Kernel:
    a = _attrs(node)
    c, pe = a["NumChannels"], a["PE"]
    _check_divides(node, "PE", c, pe)
    name = identifier(node.name)
    tty, thr, levels = _thresholds(model, node, c, pe)
    arrays = {"thresholds": (tty, thr)}
    return Kernel(node.name, node.op_type,
                  f"rubicon::Thresholding<{c}, {pe}, {_frames(a)}, {levels}, {a.get('ActVal', 0)}, "
                  f"{ctype(a['inputDataType'])}, {ctype(a['outputDataType'])}, {name}_P, {_thr_style(a)}>",
                  _params(name, arrays), latency=2, pragmas=_storage(name, a, arrays))


def duplicate(model, node) -> Kernel:
    a = _attrs(node)
    _check_divides(node, "PE", a["NumChannels"], a["PE"])
    if len(node.output) != 2:
        raise FlowError(f"{node.name} (DuplicateStreams): {len(node.output)} outputs; the kernel forks into two")
    return Kernel(node.name, node.op_type, f"rubicon::DuplicateStreams<{a['NumChannels']}, {a['PE']}, {_frames(a)}, "
                  f"{ctype(a['inputDataType'])}>", latency=1)


def add(model, node) -> Kernel:
    a = _attrs(node)
    _check_divides(node, "PE", a["NumChannels"], a["PE"])
    types = [ctype(model.get_tensor_datatype(t).name) for t in node.input]
    return Kernel(node.name, node.op_type, f"rubicon::AddStreams<{a['NumChannels']}, {a['PE']}, {_frames(a)}, "
                  f"{types[0]}, {types[1]}, {ctype(a['outputDataType'])}>", latency=2)


def width_converter(model, node) -> Kernel:
    a = _attrs(node)
    for attr in ("inWidth", "outWidth"):
        _check_divides(node, attr, a["NumChannels"], a[attr])
    return Kernel(node.name, node.op_type, f"rubicon::DataWidthConverter<{a['NumChannels']}, {a['inWidth']}, "
                  f"{a['outWidth']}, {_frames(a)}, {ctype(a['inputDataType'])}>", latency=1)


def dynamic_pool(model, node) -> Kernel:
    """hls/dynamic_pool.h; its side stream {count, overflow} is the `frame_count` output."""
    op = getCustomOp(node)
    a = _attrs(node)
    fmt = op.get_format()
    c, pe = a["NumChannels"], a["PE"]
    _check_divides(node, "PE", c, pe)
    name = identifier(node.name)
    luts = model.get_initializer(node.input[2]).astype(np.int64)
    tty, thr, levels = _thresholds(model, node, c, pe)
    params = _params(name, {"w_lut": (f"ap_uint<{fmt.weight_frac_bits}>", luts[0]),
                            "m_lut": (f"ap_uint<{fmt.move_frac_bits + fmt.move_int_bits}>", luts[1]),
                            "thresholds": (tty, thr)})
    frames, count = node.output[0], node.output[1]
    return Kernel(node.name, node.op_type,
                  f"rubicon::DynamicPool<{c}, {pe}, {_frames(a)}, {fmt.lmax}, {fmt.lut_bits}, {fmt.a_shift}, {fmt.b_shift}, "
                  f"{fmt.weight_frac_bits}, {fmt.move_frac_bits}, {fmt.move_int_bits}, {fmt.prod_shift}, {fmt.acc_bits}, "
                  f"{levels}, {ctype(a['inputDataType'])}, {ctype(a['predDataType'])}, {ctype(a['outputDataType'])}, {name}_P>",
                  params, outputs=[frames, count], latency=2,
                  words={count: (f"ap_uint<{fmt.count_bits}>", 2)}, side_outputs=[count])


EMITTERS = {"FMPadding1D": fmpadding, "ConvolutionInputGenerator1D": sliding_window, "MVAU": mvau, "VVAU": vvau,
            "Thresholding": thresholding, "DuplicateStreams": duplicate, "AddStreams": add,
            "StreamingDataWidthConverter": width_converter, "DynamicPool": dynamic_pool}


def emit_kernel(model: ModelWrapper, node) -> Kernel:
    if node.op_type not in EMITTERS:
        raise FlowError(f"{node.name} ({node.op_type}): no HLS kernel for this op; "
                        f"the kernel library has {', '.join(sorted(EMITTERS))} (and StreamingFIFO as a stream depth)")
    kernel = EMITTERS[node.op_type](model, node)
    kernel.inputs = [t for t in node.input if model.get_initializer(t) is None]
    kernel.outputs = kernel.outputs or list(node.output)
    return kernel
