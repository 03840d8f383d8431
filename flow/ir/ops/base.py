"""Shared behaviour of the dataflow ops: channels-last integer streams [N, T, C].

Tensors are held as int64 numpy arrays during execution (exact at any accumulator width);
their ONNX containers are float32, as in FINN, with qonnx DataType annotations giving the
true integer type.
"""
import numpy as np
from onnx import NodeProto, helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp

DOMAIN = "flow.ir.ops"


class DataflowOp(CustomOp):
    """A streaming node: one input stream of [N, T, C] frames unless an op says otherwise."""

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
