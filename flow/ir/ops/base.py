"""Shared behaviour of the dataflow ops: channels-last integer streams [N, T, C].

One class per op carries everything the flow knows about it (FINN's HWCustomOp surface, without
its backend mixins): golden execution, shape and data-type inference, stream widths, the folding
choices it may take (parallelism and implementation styles, as node attributes), its cycles and
resources for each style (`estimate`, from plain parameters, so the search can cost a layer that
does not exist yet) and the hls/ kernel it instantiates (`kernel`). Graph-level passes
(`flow.hw`, `flow.codegen`) only ever ask the op.

Tensors are held as int64 numpy arrays during execution (exact at any accumulator width);
their ONNX containers are float32, as in FINN, with qonnx DataType annotations giving the
true integer type.
"""
import math

import numpy as np
from onnx import NodeProto, helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp

from flow.errors import FlowError

DOMAIN = "flow.ir.ops"
# folding config key (an `estimate` parameter) → node attribute: the parallelism, then the implementation styles
FOLD_ATTR = {"pe": "PE", "simd": "SIMD", "taps": "TapsPerBeat", "res_type": "resType",
             "threshold_style": "thresholdStyle", "ram_style": "ramStyle"}
STYLE_KEYS = ("res_type", "threshold_style", "ram_style")


def divisors(n: int) -> list[int]:
    n = int(n)
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def bits(dtype_name: str) -> int:
    return DataType[dtype_name].bitwidth()


class DataflowOp(CustomOp):
    """A streaming node: one input stream of [N, T, C] frames unless an op says otherwise.

    Inputs past the first `stream_inputs` are initializers (weights, thresholds, tables); outputs
    past the first `stream_outputs` (None: all) are per-chunk side outputs, not streams."""

    stream_inputs = 1
    stream_outputs: int | None = None

    def get_nodeattr_types(self):
        return {
            "inputDataType": ("s", True, ""),
            "outputDataType": ("s", True, ""),
            "numInputVectors": ("ints", False, [1, 1]),  # [N, T] of the input stream
        }

    channel_attr = "NumChannels"  # the attribute that holds the output channel count
    in_width_attr = "PE"          # elements per input stream beat (FINN folding)
    out_width_attr = "PE"         # elements per output stream beat

    def in_width(self) -> int:
        return self.get_nodeattr(self.in_width_attr)

    def in_width_of(self, index: int) -> int:
        """Elements per beat of stream input `index` (the same for every input unless an op says otherwise)."""
        return self.in_width()

    def out_width(self) -> int:
        return self.get_nodeattr(self.out_width_attr)

    def in_word(self, index: int = 0) -> int | None:
        """Elements per beat of input `index`; None for an initializer input."""
        return int(self.in_width_of(index)) if index < self.stream_inputs else None

    def out_word(self, index: int = 0) -> int | None:
        """Elements per beat of output `index`; None for a per-chunk side output."""
        return None if self.stream_outputs is not None and index >= self.stream_outputs else int(self.out_width())

    def frames(self) -> int:
        """Input frames per chunk: the T of numInputVectors [N, T] (N, the batch, is not hardware)."""
        return int(self.get_nodeattr("numInputVectors")[-1])

    # ---- cost: cycles per chunk and resources, per implementation style
    @classmethod
    def estimate(cls, **params):
        """The raw NodeCost (flow.ir.ops.resources) of this op from plain parameters (`cost_params`'s keys)."""
        raise NotImplementedError(f"{cls.__name__} has no cost model")

    def cost_params(self, model, uram: bool = False) -> dict:
        """The keyword parameters of `estimate` for this node; folding and styles under FOLD_ATTR's keys."""
        raise FlowError(f"{self.onnx_node.name} ({self.onnx_node.op_type}): no cost model for this op")

    @classmethod
    def fold_choices(cls, params: dict) -> list[dict]:
        """Every legal folding of the node on its own: dicts of FOLD_ATTR keys (parallelism and styles)."""
        return [{}]

    @classmethod
    def style_key(cls, params: dict) -> str:
        """The implementation style of a node with these estimate parameters, as calibration keys its
        factors (`flow.hw.calibration`: `<op type>[<style>]`); "" where the op has one implementation."""
        return ""

    # ---- C++
    def kernel(self, model):
        """The hls/ kernel this node instantiates (a flow.ir.ops.kernel.Kernel)."""
        raise FlowError(f"{self.onnx_node.name} ({self.onnx_node.op_type}): no HLS kernel for this op")

    # ---- RTL
    def rtl(self, model):
        """The node's SystemVerilog twin in hls/rtl/ (a flow.ir.ops.rtl.RtlInstance)."""
        raise FlowError(f"{self.onnx_node.name} ({self.onnx_node.op_type}): no RTL twin for this op yet")

    def out_shape(self, model) -> tuple[int, ...]:
        """[N, T, C_out]: same frames as the input unless an op (padding, windows) says otherwise."""
        n, t = self.get_nodeattr("numInputVectors")
        return (n, t, self.get_nodeattr(self.channel_attr))

    def make_shape_compatible_op(self, model):
        return zeros_node(self.onnx_node.output[0], self.out_shape(model))

    def infer_node_datatype(self, model):
        for out in self.onnx_node.output:
            model.set_tensor_datatype(out, DataType[self.get_nodeattr("outputDataType")])

    def verify_node(self):
        return [f"{self.onnx_node.name}: ok"]

    def input_array(self, context, index: int = 0) -> np.ndarray:
        value = context[self.onnx_node.input[index]]
        if np.issubdtype(np.asarray(value).dtype, np.floating):
            rounded = np.rint(value)
            if not np.array_equal(rounded, value):
                raise ValueError(f"{self.onnx_node.name}: input {self.onnx_node.input[index]} holds non-integer values")
            value = rounded
        return np.asarray(value).astype(np.int64)


def zeros_node(output: str, shape) -> NodeProto:
    """A Constant of zeros: what qonnx's shape inference sees in place of a custom op."""
    return helper.make_node("Constant", [], [output],
                            value=helper.make_tensor("const", 1, shape, np.zeros(shape, dtype=np.float32).flatten()))


def multithreshold(values: np.ndarray, thresholds: np.ndarray, out_bias: int) -> np.ndarray:
    """FINN multi-thresholding on channels-last ints: count of thresholds ≤ value, plus a bias.

    Thresholds are non-decreasing per channel, so the count is a sorted search.
    """
    out = np.empty(values.shape, dtype=np.int64)
    for c in range(values.shape[-1]):
        out[..., c] = np.searchsorted(thresholds[c], values[..., c], side="right")
    return out + out_bias


def signed_bits(values: np.ndarray, at_least: int = 2) -> int:
    """Bits of the narrowest two's-complement type holding every value (thresholds are stored at
    this width; they may sit one past the accumulator range)."""
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    return max(at_least, (-lo - 1).bit_length() + 1 if lo < 0 else 1, hi.bit_length() + 1)


def check_range(node_name: str, values: np.ndarray, dtype_name: str) -> None:
    dt = DataType[dtype_name]
    if values.size and (values.min() < dt.min() or values.max() > dt.max()):
        raise ValueError(f"{node_name}: values [{values.min()}, {values.max()}] exceed its output type {dtype_name}")
