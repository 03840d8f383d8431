"""Compute ops: matrix-vector (MVAU), vector-vector (VVAU) and stand-alone thresholds.

Weights are integer matrices; an activation is FINN multi-thresholding of the integer
accumulator (BatchNorm, bias, scales and the activation quantizer are folded into the
per-channel thresholds by the lowering). With `noActivation`, the accumulator itself is
the output (the CTC head).
"""
import numpy as np

from flow.ir.ops.base import DataflowOp, check_range, multithreshold


def exact_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Integer matrix product through float64 BLAS: exact while |sums| < 2^53, which every
    accumulator of ≤ 8-bit operands here is by many orders of magnitude."""
    return np.rint(x.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)


class _Thresholded(DataflowOp):
    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"ActVal": ("i", False, 0), "noActivation": ("i", False, 0),
                                               "accDataType": ("s", False, "INT32")}

    def activate(self, context, acc: np.ndarray, threshold_input: int) -> np.ndarray:
        if self.get_nodeattr("noActivation"):
            return acc
        thresholds = self.input_array(context, threshold_input)
        return multithreshold(acc, thresholds, self.get_nodeattr("ActVal"))

    def store(self, context, out: np.ndarray) -> None:
        check_range(self.onnx_node.name, out, self.get_nodeattr("outputDataType"))
        context[self.onnx_node.output[0]] = out


class MVAU(_Thresholded):
    """[N, T, MW] × W[MW, MH] → [N, T, MH], then thresholds [MH, levels] unless noActivation."""

    channel_attr = "MH"
    in_width_attr = "SIMD"

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"MW": ("i", True, 0), "MH": ("i", True, 0), "SIMD": ("i", False, 1),
                                               "PE": ("i", False, 1), "weightDataType": ("s", True, "")}

    def execute_node(self, context, graph):
        x, w = self.input_array(context, 0), self.input_array(context, 1)
        self.store(context, self.activate(context, exact_matmul(x, w), 2))


class VVAU(_Thresholded):
    """Depthwise: [N, T, K·C] windows in the depthwise stream order of its sliding window (PE
    channels per tap, see ConvolutionInputGenerator1D) with W[C, K] → [N, T, C], then thresholds."""

    channel_attr = "Channels"

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"Channels": ("i", True, 0), "Kernel": ("i", True, 1), "PE": ("i", False, 1),
                                               "SIMD": ("i", False, 1), "weightDataType": ("s", True, "")}

    def execute_node(self, context, graph):
        x, w = self.input_array(context, 0), self.input_array(context, 1)
        c, k, pe = self.get_nodeattr("Channels"), self.get_nodeattr("Kernel"), self.get_nodeattr("PE")
        n, t = x.shape[:2]
        windows = x.reshape(n, t, c // pe, k, pe).transpose(0, 1, 3, 2, 4).reshape(n, t, k, c)
        acc = np.rint(np.einsum("ntkc,ck->ntc", windows.astype(np.float64), w.astype(np.float64))).astype(np.int64)
        self.store(context, self.activate(context, acc, 2))


class Thresholding(_Thresholded):
    """Stand-alone multi-threshold on [N, T, C] (e.g. the activation after a residual join)."""

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"NumChannels": ("i", True, 0), "PE": ("i", False, 1)}

    def execute_node(self, context, graph):
        self.store(context, self.activate(context, self.input_array(context, 0), 1))
