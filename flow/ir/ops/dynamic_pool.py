"""The `DynamicPool` dataflow op (DESIGN §4.5, §6): cumulative sum of moves + triangular resampling.

Inputs, in order:
  0. features [N, T, C]   unsigned integers (`inputDataType`, UINTb), the quantized features
  1. ab       [N, T, 2]   signed integer accumulators a (importance), b (move) of the
                          predictor's pointwise MVAU (`predDataType`)
  2. luts     [2, 2^LutBits] initializer: row 0 importance table, row 1 move table
  3. thresholds [C, 2^outBits − 1] initializer, every entry ≥ 1 (requantization)
Outputs, in order:
  0. frames   [N, Lmax, C] (`outputDataType`, UINTb); frames at or past the count are 0
  1. count    [N] valid frames, min(⌊p_T⌋ + 2, Lmax) (UINT, bitlen(Lmax) bits)
  2. overflow [N] 1 when ⌊p_T⌋ + 2 > Lmax (the chunk needed more frames than Lmax) (BINARY)

The arithmetic and every width are those of `flow.nn.dynamic_pool` (its module docstring);
the node attributes carry the `DynamicPoolFormat` fields (`format_attributes` writes them).
"""
import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType

from flow.ir.ops.base import DataflowOp, check_range
from flow.nn.dynamic_pool import DynamicPoolFormat, dynamic_pool_int

# node attribute ← DynamicPoolFormat field (feature and output widths come from the data types)
FORMAT_ATTRIBUTES = {"Lmax": "lmax", "LutBits": "lut_bits", "AShift": "a_shift", "BShift": "b_shift",
                     "WeightFracBits": "weight_frac_bits", "MoveFracBits": "move_frac_bits",
                     "MoveIntBits": "move_int_bits", "ProdShift": "prod_shift", "AccBits": "acc_bits"}


def format_attributes(fmt: DynamicPoolFormat) -> dict:
    """Node attributes for a format (with the feature and output data types)."""
    return {attr: int(getattr(fmt, field)) for attr, field in FORMAT_ATTRIBUTES.items()} | {
        "inputDataType": f"UINT{fmt.feature_bits}", "outputDataType": f"UINT{fmt.out_bits}"}


class DynamicPool(DataflowOp):
    """Features [N, T, C] + predictor accumulators [N, T, 2] → frames [N, Lmax, C], count [N], overflow [N]."""

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {
            "NumChannels": ("i", True, 0), "PE": ("i", False, 1), "predDataType": ("s", False, "INT32"),
            "Lmax": ("i", True, 0), "LutBits": ("i", True, 8), "AShift": ("i", False, 0), "BShift": ("i", False, 0),
            "WeightFracBits": ("i", True, 8), "MoveFracBits": ("i", True, 8), "MoveIntBits": ("i", True, 1),
            "ProdShift": ("i", False, 0), "AccBits": ("i", True, 32)}

    def get_format(self) -> DynamicPoolFormat:
        dts = {}
        for attr in ("inputDataType", "outputDataType"):
            dt = DataType[self.get_nodeattr(attr)]
            if dt.signed() or not dt.is_integer():
                raise ValueError(f"{self.onnx_node.name}: {attr} must be an unsigned integer type (got {dt.name})")
            dts[attr] = dt.bitwidth()
        fmt = DynamicPoolFormat(feature_bits=dts["inputDataType"], out_bits=dts["outputDataType"],
                                **{field: self.get_nodeattr(attr) for attr, field in FORMAT_ATTRIBUTES.items()})
        try:
            fmt.check()
        except ValueError as exc:
            raise ValueError(f"{self.onnx_node.name}: {exc}") from None
        return fmt

    def out_shape(self, model):
        n, _ = self.get_nodeattr("numInputVectors")
        return (n, self.get_nodeattr("Lmax"), self.get_nodeattr("NumChannels"))

    def infer_node_datatype(self, model):
        out, count, overflow = self.onnx_node.output
        model.set_tensor_datatype(out, DataType[self.get_nodeattr("outputDataType")])
        model.set_tensor_datatype(count, DataType[f"UINT{max(1, self.get_nodeattr('Lmax').bit_length())}"])
        model.set_tensor_datatype(overflow, DataType["BINARY"])

    def verify_node(self):
        info = []
        c, pe = self.get_nodeattr("NumChannels"), self.get_nodeattr("PE")
        if pe < 1 or c % pe:
            info.append(f"{self.onnx_node.name}: PE {pe} must divide NumChannels {c}")
        if len(self.onnx_node.input) != 4 or len(self.onnx_node.output) != 3:
            info.append(f"{self.onnx_node.name}: needs inputs (features, ab, luts, thresholds) "
                        "and outputs (frames, count, overflow)")
        try:
            self.get_format()
        except ValueError as exc:
            info.append(str(exc))
        return info or [f"{self.onnx_node.name}: ok"]

    def make_shape_compatible_op(self, model):
        shape = self.out_shape(model)
        return helper.make_node("Constant", [], [self.onnx_node.output[0]],
                                value=helper.make_tensor("const", 1, shape, np.zeros(shape, dtype=np.float32).flatten()))

    def execute_node(self, context, graph):
        name = self.onnx_node.name
        fmt = self.get_format()
        feats, ab = self.input_array(context, 0), self.input_array(context, 1)
        luts, thresholds = self.input_array(context, 2), self.input_array(context, 3)
        n, t, c = feats.shape
        if c != self.get_nodeattr("NumChannels") or ab.shape != (n, t, 2):
            raise ValueError(f"{name}: features {feats.shape} and ab {ab.shape} do not match NumChannels "
                             f"{self.get_nodeattr('NumChannels')} and [N, T, 2]")
        check_range(name, feats, self.get_nodeattr("inputDataType"))
        check_range(name, ab, self.get_nodeattr("predDataType"))
        frames = np.zeros((n, fmt.lmax, c), dtype=np.int64)
        count = np.zeros(n, dtype=np.int64)
        overflow = np.zeros(n, dtype=np.int64)
        for row in range(n):
            try:
                frames[row], count[row], overflow[row] = dynamic_pool_int(feats[row], ab[row, :, 0], ab[row, :, 1],
                                                                          fmt, luts, thresholds)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        check_range(name, frames, self.get_nodeattr("outputDataType"))
        out, count_name, overflow_name = self.onnx_node.output
        context[out], context[count_name], context[overflow_name] = frames, count, overflow
