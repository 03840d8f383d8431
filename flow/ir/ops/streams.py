"""Stream plumbing ops: padding, sliding window, fork/join, FIFO, argmax."""
import numpy as np

from flow.ir.ops.base import DataflowOp, check_range


class FMPadding1D(DataflowOp):
    """Zero padding in time: [N, T, C] → [N, Pad[0] + T + Pad[1], C]."""

    in_width_attr = out_width_attr = "SIMD"

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"Pad": ("ints", True, [0, 0]), "NumChannels": ("i", True, 0),
                                               "ImgDim": ("i", True, 0), "SIMD": ("i", False, 1)}

    def out_shape(self, model):
        n, t = self.get_nodeattr("numInputVectors")
        left, right = self.get_nodeattr("Pad")
        return (n, t + left + right, self.get_nodeattr("NumChannels"))

    def execute_node(self, context, graph):
        left, right = self.get_nodeattr("Pad")
        context[self.onnx_node.output[0]] = np.pad(self.input_array(context), ((0, 0), (left, right), (0, 0)))


class ConvolutionInputGenerator1D(DataflowOp):
    """Sliding window: [N, IFMDim, C] → [N, OFMDim, K·C].

    Dense mode: window element (k, c) at k·C + c, so an MVAU reads it as one matrix row.
    Depthwise mode (feeding a VVAU): channels in groups of SIMD, each group's K taps in turn —
    element (k, g·SIMD + p) at g·K·SIMD + k·SIMD + p — so the VVAU (PE = this SIMD) gets
    one tap of PE channels per stream word, or `TapsPerBeat` consecutive taps for a VVAU with that
    SIMD. The order is the stream's, as in FINN.
    """

    in_width_attr = "SIMD"

    def out_width(self) -> int:
        return self.get_nodeattr("SIMD") * self.get_nodeattr("TapsPerBeat")

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {
            "ConvKernelDim": ("i", True, 1), "IFMChannels": ("i", True, 0), "IFMDim": ("i", True, 0),
            "OFMDim": ("i", True, 0), "Stride": ("i", False, 1), "Dilation": ("i", False, 1),
            "SIMD": ("i", False, 1), "depthwise": ("i", False, 0), "TapsPerBeat": ("i", False, 1)}

    def out_shape(self, model):
        n = self.get_nodeattr("numInputVectors")[0]
        return (n, self.get_nodeattr("OFMDim"), self.get_nodeattr("ConvKernelDim") * self.get_nodeattr("IFMChannels"))

    def execute_node(self, context, graph):
        x = self.input_array(context)
        k, s, d = (self.get_nodeattr(a) for a in ("ConvKernelDim", "Stride", "Dilation"))
        t_out = self.get_nodeattr("OFMDim")
        starts = np.arange(t_out) * s
        taps = starts[:, None] + np.arange(k)[None, :] * d  # [T_out, K]
        if taps.max() >= x.shape[1]:
            raise ValueError(f"{self.onnx_node.name}: window reaches sample {taps.max()} of {x.shape[1]}")
        windows = x[:, taps, :]  # [N, T_out, K, C]
        if self.get_nodeattr("depthwise"):
            simd = self.get_nodeattr("SIMD")
            n, _, k, c = windows.shape
            windows = windows.reshape(n, t_out, k, c // simd, simd).transpose(0, 1, 3, 2, 4)
        context[self.onnx_node.output[0]] = windows.reshape(x.shape[0], t_out, -1)


class DuplicateStreams(DataflowOp):
    """Fork: one stream to two identical streams (the residual branch point)."""

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"NumChannels": ("i", True, 0), "PE": ("i", False, 1), "NumOutputStreams": ("i", False, 2)}

    def execute_node(self, context, graph):
        x = self.input_array(context)
        for out in self.onnx_node.output:
            context[out] = x.copy()


class AddStreams(DataflowOp):
    """Join: elementwise sum of two integer streams with the same scale."""

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"NumChannels": ("i", True, 0), "PE": ("i", False, 1)}

    def execute_node(self, context, graph):
        out = self.input_array(context, 0) + self.input_array(context, 1)
        check_range(self.onnx_node.name, out, self.get_nodeattr("outputDataType"))
        context[self.onnx_node.output[0]] = out


class StreamingFIFO(DataflowOp):
    """Buffering between nodes (`depth` words of `PE` elements); the identity on values."""

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"depth": ("i", True, 2), "NumChannels": ("i", True, 0), "PE": ("i", False, 1)}

    def execute_node(self, context, graph):
        context[self.onnx_node.output[0]] = self.input_array(context)


class StreamingDataWidthConverter(DataflowOp):
    """Regroups a stream from words of `inWidth` elements to words of `outWidth`; identity on values."""

    in_width_attr, out_width_attr = "inWidth", "outWidth"

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"NumChannels": ("i", True, 0), "inWidth": ("i", True, 1),
                                               "outWidth": ("i", True, 1)}

    def execute_node(self, context, graph):
        context[self.onnx_node.output[0]] = self.input_array(context)


class LabelSelect(DataflowOp):
    """Top-K class indices per frame (K = 1: the greedy CTC path)."""

    channel_attr = "K"

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"Labels": ("i", True, 5), "K": ("i", False, 1), "PE": ("i", False, 1)}

    def execute_node(self, context, graph):
        x = self.input_array(context)
        order = np.argsort(-x, axis=-1, kind="stable")  # ties → lower index, like a sequential compare
        context[self.onnx_node.output[0]] = order[..., : self.get_nodeattr("K")]
