"""Compute ops: matrix-vector (MVAU), vector-vector (VVAU) and stand-alone thresholds.

Weights are integer matrices; an activation is FINN multi-thresholding of the integer
accumulator (BatchNorm, bias, scales and the activation quantizer are folded into the
per-channel thresholds by the lowering). With `noActivation`, the accumulator itself is
the output (the CTC head).
"""
from dataclasses import dataclass

import numpy as np
from qonnx.core.datatype import DataType

from flow.ir.ops.base import DataflowOp, check_range, multithreshold

THRESHOLD_STYLES = ("parallel", "search")  # every level compared at once, or a pipelined binary search
MULTIPLIER_STYLES = ("lut", "dsp")          # fabric multipliers, or DSP slices with packed narrow products
RAM_STYLES = ("auto", "distributed", "block", "ultra")  # weight and threshold memories (FINN's ram_style)
DSP_PRODUCT_BITS = 48                       # the P register of DSP48E1/E2
DSP48E1_A_BITS = 25                         # signed A port of DSP48E1 (Zynq-7000)
DSP48E2_A_BITS = 27                         # of DSP48E2 (UltraScale+), and DSP58 (Versal)


@dataclass(frozen=True)
class DspPacking:
    """`lanes` signed dot products from one chain of DSPs: the weights of neighbouring PEs packed
    `spacing` = W + A + ⌈log2 SIMD⌉ bits apart into the DSPs' A ports, each DSP multiplying one shared
    input element, the chain adding the packed products (hls/mvau.h PackedDspMultipliers). Read out
    exactly by hls/common.h packed_lane: every lane's sum of SIMD products lies strictly inside
    ±2^(spacing−1)."""
    lanes: int
    spacing: int
    weight_bits: int

    @property
    def packed_bits(self) -> int:
        return (self.lanes - 1) * self.spacing + self.weight_bits

    def pack(self, weights: np.ndarray) -> np.ndarray:
        """[PE, tiles, SIMD] integer weights → [⌈PE/lanes⌉, tiles, SIMD] packed words Σ_i w_i 2^(i·spacing)."""
        pe = weights.shape[0]
        groups = -(-pe // self.lanes)
        padded = np.zeros((groups * self.lanes,) + weights.shape[1:], dtype=object)
        padded[:pe] = weights.astype(np.int64).astype(object)
        lanes = padded.reshape(groups, self.lanes, *weights.shape[1:])
        packed = sum(lanes[:, i] * (1 << (i * self.spacing)) for i in range(self.lanes))
        return np.asarray(packed, dtype=np.int64)


def dsp_packing(weight_bits: int, in_bits: int, port_bits: int, dot_length: int = 1) -> DspPacking:
    """As many W-bit weights as fit the DSP's `port_bits`-wide signed A port (25 on DSP48E1, 27 on
    DSP48E2) at W + A + ⌈log2 dot_length⌉ bits apart (room for a chain of `dot_length` products),
    and whose sums fit its 48-bit P register."""
    spacing = weight_bits + in_bits + max(0, int(dot_length - 1).bit_length())
    if weight_bits > port_bits or spacing > DSP_PRODUCT_BITS:
        raise ValueError(f"a {weight_bits}-bit × {in_bits}-bit product does not fit a DSP with a {port_bits}-bit port")
    lanes = min((port_bits - weight_bits) // spacing + 1, DSP_PRODUCT_BITS // spacing)
    return DspPacking(lanes, spacing, weight_bits)


def exact_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Integer matrix product through float64 BLAS: exact while |sums| < 2^53, which every
    accumulator of ≤ 8-bit operands here is by many orders of magnitude."""
    return np.rint(x.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)


class _Thresholded(DataflowOp):
    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"ActVal": ("i", False, 0), "noActivation": ("i", False, 0),
                                               "accDataType": ("s", False, "INT32"),
                                               "thresholdStyle": ("s", False, "parallel", THRESHOLD_STYLES),
                                               "ramStyle": ("s", False, "auto", RAM_STYLES)}

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
                                               "PE": ("i", False, 1), "weightDataType": ("s", True, ""),
                                               "resType": ("s", False, "lut", MULTIPLIER_STYLES),
                                               "dspPortBits": ("i", False, DSP48E1_A_BITS)}

    def dsp_packing(self) -> DspPacking | None:
        """The packing of its DSP multipliers, None with LUT multipliers."""
        if self.get_nodeattr("resType") != "dsp":
            return None
        bits = (DataType[self.get_nodeattr(a)].bitwidth() for a in ("weightDataType", "inputDataType"))
        return dsp_packing(*bits, self.get_nodeattr("dspPortBits"), self.get_nodeattr("SIMD"))

    def execute_node(self, context, graph):
        x, w = self.input_array(context, 0), self.input_array(context, 1)
        self.store(context, self.activate(context, exact_matmul(x, w), 2))


class VVAU(_Thresholded):
    """Depthwise: [N, T, K·C] windows in the depthwise stream order of its sliding window (PE
    channels per tap, see ConvolutionInputGenerator1D) with W[C, K] → [N, T, C], then thresholds.
    A stream beat holds SIMD taps of PE channels."""

    channel_attr = "Channels"

    def in_width(self) -> int:
        return self.get_nodeattr("PE") * self.get_nodeattr("SIMD")

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
