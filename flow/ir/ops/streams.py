"""Stream plumbing ops: padding, sliding window, fork/join, FIFO, width converter, argmax.

Cycles follow FINN's `get_exp_cycles` for the same stream semantics; resources are FINN's where
FINN has an estimate (sliding window, FIFO, width converter) and first-order counts of the
registers and adders our kernels instantiate where it has none (flow.ir.ops.resources).
"""
import math

import numpy as np
from qonnx.core.datatype import DataType

from flow.errors import FlowError
from flow.ir.ops import resources as R
from flow.ir.ops.base import DataflowOp, bits, check_range, divisors
from flow.ir.ops.cpp import ctype
from flow.ir.ops.kernel import Kernel, check_divides
from flow.ir.ops.resources import NodeCost
from flow.ir.ops.rtl import RtlInstance, StreamPort


def _port(width: int, dtype: str):
    """name → the StreamPort of `width` elements of `dtype` (a QONNX DataType name)."""
    return lambda name: StreamPort(name, width, bits(dtype), DataType[dtype].signed())


class _ChannelFolded(DataflowOp):
    """An op folded only by PE channels per beat (fork, join, FIFO)."""

    @classmethod
    def fold_choices(cls, params: dict) -> list[dict]:
        return [{"pe": p} for p in divisors(params["channels"])]


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

    @classmethod
    def estimate(cls, *, channels: int, img_dim: int, pad: tuple[int, int], bits: int, simd: int = 1) -> NodeCost:
        """(ImgDim + pads)·C/SIMD cycles (FINN); resources own (a mux and counters)."""
        R.check_fold("NumChannels", channels, simd, "SIMD")
        out_frames = img_dim + int(pad[0]) + int(pad[1])
        return NodeCost(cycles=out_frames * channels // simd, lut=30 + simd * bits, ff=30 + simd * bits)

    def cost_params(self, model, uram: bool = False) -> dict:
        a = self.get_nodeattr
        return dict(channels=a("NumChannels"), img_dim=a("ImgDim"), pad=tuple(a("Pad")),
                    bits=bits(a("inputDataType")), simd=a("SIMD"))

    @classmethod
    def fold_choices(cls, params: dict) -> list[dict]:
        return [{"simd": s} for s in divisors(params["channels"])]

    def kernel(self, model) -> Kernel:
        node, a = self.onnx_node, self.get_nodeattr
        check_divides(node, "SIMD", a("NumChannels"), a("SIMD"))
        left, right = a("Pad")
        return Kernel(node.name, node.op_type, f"rubicon::FMPadding1D<{a('NumChannels')}, {a('SIMD')}, {a('ImgDim')}, "
                      f"{left}, {right}, {ctype(a('inputDataType'))}>", latency=1)

    def rtl(self, model) -> RtlInstance:
        """hls/rtl/fmpadding.sv: beats of SIMD elements in and out."""
        a = self.get_nodeattr
        left, right = a("Pad")
        port = _port(a("SIMD"), a("inputDataType"))
        return RtlInstance(self.onnx_node.name, "fmpadding", ["fmpadding.sv"],
                           {"C": a("NumChannels"), "SIMD": a("SIMD"), "T": a("ImgDim"), "PAD_L": left, "PAD_R": right,
                            "BITS": port("in").bits}, inputs=[port("in")], outputs=[port("out")])


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

    @classmethod
    def estimate(cls, *, channels: int, kernel: int, ofm_dim: int, bits: int, simd: int = 1, stride: int = 1,
                 dilation: int = 1, uram: bool = False, taps: int = 1) -> NodeCost:
        """span·C/SIMD + OFMDim·max(K/taps, S)·C/SIMD cycles (the buffer fill, then one window per
        output frame; close to FINN's 1-D HLS variants); buffer of (span + S) frames; FINN's 300-LUT
        constant plus the buffer. With several taps per beat (depthwise, own model) the buffer is one
        bank per frame, each tap read through a (span + S):1 multiplexer of 4:1 LUT6 stages."""
        R.check_fold("IFMChannels", channels, simd, "SIMD")
        R.check_fold("ConvKernelDim", kernel, taps, "TapsPerBeat")
        span = (kernel - 1) * dilation + 1
        cf = channels // simd
        frames = span + stride
        if taps == 1:
            buf = R.memory(simd * bits, frames * cf, uram=uram)
            mux = 0
        else:
            bank = R.memory(simd * bits, cf)
            buf = R.Memory(bank.kind, lut=frames * bank.lut, bram18=frames * bank.bram18, uram=frames * bank.uram)
            mux = taps * simd * bits * math.ceil((frames - 1) / 3)
        return NodeCost(cycles=span * cf + ofm_dim * max(kernel // taps, stride) * cf, lut=R.SWG_LUT + buf.lut + mux,
                        ff=64 + (1 + taps) * simd * bits, bram18=buf.bram18, uram=buf.uram)

    @classmethod
    def style_key(cls, params: dict) -> str:
        """`ring` (one tap a beat: one buffer) or `banks` (several taps a beat: a bank per frame and muxes)."""
        return "ring" if params.get("taps", 1) == 1 else "banks"

    def cost_params(self, model, uram: bool = False) -> dict:
        a = self.get_nodeattr
        return dict(channels=a("IFMChannels"), kernel=a("ConvKernelDim"), ofm_dim=a("OFMDim"),
                    bits=bits(a("inputDataType")), simd=a("SIMD"), stride=a("Stride"), dilation=a("Dilation"),
                    uram=uram, taps=a("TapsPerBeat"))

    @classmethod
    def fold_choices(cls, params: dict) -> list[dict]:
        """On its own (a window's SIMD is normally its consumer's: flow.hw.fold ties them)."""
        return [{"simd": s} for s in divisors(params["channels"])]

    def kernel(self, model) -> Kernel:
        node, a = self.onnx_node, self.get_nodeattr
        check_divides(node, "SIMD", a("IFMChannels"), a("SIMD"))
        return Kernel(node.name, node.op_type,
                      f"rubicon::SlidingWindow1D<{a('IFMChannels')}, {a('SIMD')}, {a('ConvKernelDim')}, {a('Stride')}, "
                      f"{a('Dilation')}, {a('IFMDim')}, {a('OFMDim')}, {'true' if a('depthwise') else 'false'}, "
                      f"{ctype(a('inputDataType'))}, {a('TapsPerBeat')}>", latency=2)

    def rtl(self, model) -> RtlInstance:
        """hls/rtl/swg.sv: beats of SIMD elements in, TapsPerBeat·SIMD out."""
        a = self.get_nodeattr
        check_divides(self.onnx_node, "SIMD", a("IFMChannels"), a("SIMD"))
        check_divides(self.onnx_node, "TapsPerBeat", a("ConvKernelDim"), a("TapsPerBeat"))
        dtype = a("inputDataType")
        params = {"C": a("IFMChannels"), "SIMD": a("SIMD"), "K": a("ConvKernelDim"), "S": a("Stride"),
                  "D": a("Dilation"), "T_IN": a("IFMDim"), "T_OUT": a("OFMDim"), "DEPTHWISE": int(bool(a("depthwise"))),
                  "BITS": bits(dtype), "TAPS": a("TapsPerBeat")}
        return RtlInstance(self.onnx_node.name, "swg", ["swg.sv"], params, inputs=[_port(a("SIMD"), dtype)("in")],
                           outputs=[_port(self.out_width(), dtype)("out")])


class DuplicateStreams(_ChannelFolded):
    """Fork: one stream to two identical streams (the residual branch point)."""

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"NumChannels": ("i", True, 0), "PE": ("i", False, 1), "NumOutputStreams": ("i", False, 2)}

    def execute_node(self, context, graph):
        x = self.input_array(context)
        for out in self.onnx_node.output:
            context[out] = x.copy()

    @classmethod
    def estimate(cls, *, channels: int, frames: int, bits: int, pe: int = 1, outputs: int = 2) -> NodeCost:
        """T·C/PE cycles (FINN); own: an output register per stream and handshake logic."""
        R.check_fold("NumChannels", channels, pe, "PE")
        return NodeCost(cycles=frames * channels // pe, lut=8 * outputs, ff=8 + outputs * pe * bits)

    def cost_params(self, model, uram: bool = False) -> dict:
        a = self.get_nodeattr
        return dict(channels=a("NumChannels"), frames=self.frames(), bits=bits(a("inputDataType")), pe=a("PE"),
                    outputs=len(self.onnx_node.output))

    def kernel(self, model) -> Kernel:
        node, a = self.onnx_node, self.get_nodeattr
        check_divides(node, "PE", a("NumChannels"), a("PE"))
        if len(node.output) != 2:
            raise FlowError(f"{node.name} (DuplicateStreams): {len(node.output)} outputs; the kernel forks into two")
        return Kernel(node.name, node.op_type, f"rubicon::DuplicateStreams<{a('NumChannels')}, {a('PE')}, "
                      f"{self.frames()}, {ctype(a('inputDataType'))}>", latency=1)

    def rtl(self, model) -> RtlInstance:
        """hls/rtl/streams.sv duplicate_streams: s_in to m_out0 and m_out1, PE elements per beat."""
        a = self.get_nodeattr
        if len(self.onnx_node.output) != 2:
            raise FlowError(f"{self.onnx_node.name} (DuplicateStreams): {len(self.onnx_node.output)} outputs; "
                            "the twin forks into two")
        port = _port(a("PE"), a("inputDataType"))
        return RtlInstance(self.onnx_node.name, "duplicate_streams", ["streams.sv"],
                           {"C": a("NumChannels"), "PE": a("PE"), "T": self.frames(), "BITS": port("in").bits},
                           inputs=[port("in")], outputs=[port("out0"), port("out1")])


class AddStreams(_ChannelFolded):
    """Join: elementwise sum of two integer streams with the same scale."""

    stream_inputs = 2

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"NumChannels": ("i", True, 0), "PE": ("i", False, 1)}

    def execute_node(self, context, graph):
        out = self.input_array(context, 0) + self.input_array(context, 1)
        check_range(self.onnx_node.name, out, self.get_nodeattr("outputDataType"))
        context[self.onnx_node.output[0]] = out

    @classmethod
    def estimate(cls, *, channels: int, frames: int, out_bits: int, pe: int = 1) -> NodeCost:
        """T·C/PE cycles (FINN); own: one LUT and one FF per sum bit."""
        R.check_fold("NumChannels", channels, pe, "PE")
        return NodeCost(cycles=frames * channels // pe, lut=16 + pe * out_bits, ff=16 + pe * out_bits)

    def cost_params(self, model, uram: bool = False) -> dict:
        a = self.get_nodeattr
        return dict(channels=a("NumChannels"), frames=self.frames(), out_bits=bits(a("outputDataType")), pe=a("PE"))

    def kernel(self, model) -> Kernel:
        node, a = self.onnx_node, self.get_nodeattr
        check_divides(node, "PE", a("NumChannels"), a("PE"))
        types = [ctype(model.get_tensor_datatype(t).name) for t in node.input]
        return Kernel(node.name, node.op_type, f"rubicon::AddStreams<{a('NumChannels')}, {a('PE')}, {self.frames()}, "
                      f"{types[0]}, {types[1]}, {ctype(a('outputDataType'))}>", latency=2)

    def rtl(self, model) -> RtlInstance:
        """hls/rtl/streams.sv add_streams: s_in0 + s_in1 to m_out, each with its tensor's type."""
        a = self.get_nodeattr
        ins = [_port(a("PE"), model.get_tensor_datatype(t).name)(f"in{i}") for i, t in enumerate(self.onnx_node.input)]
        out = _port(a("PE"), a("outputDataType"))("out")
        return RtlInstance(self.onnx_node.name, "add_streams", ["streams.sv"],
                           {"C": a("NumChannels"), "PE": a("PE"), "T": self.frames(), "A_BITS": ins[0].bits,
                            "A_SIGNED": int(ins[0].signed), "B_BITS": ins[1].bits, "B_SIGNED": int(ins[1].signed),
                            "O_BITS": out.bits}, inputs=ins, outputs=[out])


class StreamingFIFO(_ChannelFolded):
    """Buffering between nodes (`depth` words of `PE` elements); the identity on values. Its C++ is
    a stream depth in the network (flow.codegen.network), not a kernel."""

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"depth": ("i", True, 2), "NumChannels": ("i", True, 0), "PE": ("i", False, 1)}

    def execute_node(self, context, graph):
        context[self.onnx_node.output[0]] = self.input_array(context)

    @classmethod
    def estimate(cls, *, channels: int, frames: int, depth: int, bits: int, pe: int = 1, uram: bool = False) -> NodeCost:
        """T·C/PE cycles; FINN streamingfifo.py: SRL FIFOs (2⌈log2 depth⌉ address LUTs + ⌈depth/32⌉·⌈W/2⌉
        SRL LUTs) up to 256 deep, deeper ones BRAM-based Vivado FIFOs a power of two deep."""
        R.check_fold("NumChannels", channels, pe, "PE")
        width = pe * bits
        cycles = frames * channels // pe
        address = 2 * R.clog2(depth)
        ff = width + address + 4
        if depth <= R.FIFO_MAX_SRL_DEPTH:
            return NodeCost(cycles=cycles, lut=address + math.ceil(depth / 32) * math.ceil(width / 2), ff=ff)
        depth = 1 << (depth - 1).bit_length()  # Vivado FIFOs are powers of two deep
        mem = R.memory(width, depth, uram=uram)
        return NodeCost(cycles=cycles, lut=address + mem.lut, ff=ff, bram18=mem.bram18, uram=mem.uram)

    @classmethod
    def style_key(cls, params: dict) -> str:
        """`srl` up to FINN's shift-register depth, `bram` deeper (the estimate's two formulas)."""
        return "srl" if params["depth"] <= R.FIFO_MAX_SRL_DEPTH else "bram"

    def cost_params(self, model, uram: bool = False) -> dict:
        a = self.get_nodeattr
        return dict(channels=a("NumChannels"), frames=self.frames(), depth=a("depth"), bits=bits(a("inputDataType")),
                    pe=a("PE"), uram=uram)

    def rtl(self, model) -> RtlInstance:
        """hls/rtl/fifo.sv at the node's depth, one beat of PE elements wide."""
        a = self.get_nodeattr
        port = lambda name: StreamPort(name, a("PE"), bits(a("inputDataType")), DataType[a("inputDataType")].signed())  # noqa: E731
        return RtlInstance(self.onnx_node.name, "fifo", ["fifo.sv"], {"WIDTH": port("in").tdata_bits, "DEPTH": a("depth")},
                           inputs=[port("in")], outputs=[port("out")])


class StreamingDataWidthConverter(DataflowOp):
    """Regroups a stream from words of `inWidth` elements to words of `outWidth`; identity on values."""

    in_width_attr, out_width_attr = "inWidth", "outWidth"

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"NumChannels": ("i", True, 0), "inWidth": ("i", True, 1),
                                               "outWidth": ("i", True, 1)}

    def execute_node(self, context, graph):
        context[self.onnx_node.output[0]] = self.input_array(context)

    @classmethod
    def estimate(cls, *, channels: int, frames: int, in_width: int, out_width: int, bits: int) -> NodeCost:
        """Widths in elements: max(T·C/in, T·C/out) cycles; FINN's LUTs (a shift register through
        the least common multiple of the widths)."""
        R.check_fold("NumChannels", channels, in_width, "inWidth")
        R.check_fold("NumChannels", channels, out_width, "outWidth")
        inw, outw = in_width * bits, out_width * bits
        intw = inw * outw // math.gcd(inw, outw)
        cnt = cset = 0
        if inw != intw:
            cnt += abs(math.ceil(math.log2(inw / intw)))
            cset += intw
        if intw != outw:
            cnt += abs(math.ceil(math.log2(intw / outw)))
            cset += outw
        cycles = max(frames * channels // in_width, frames * channels // out_width)
        return NodeCost(cycles=cycles, lut=cnt + cset, ff=intw + 2 * R.clog2(intw // min(inw, outw) + 1))

    def cost_params(self, model, uram: bool = False) -> dict:
        a = self.get_nodeattr
        return dict(channels=a("NumChannels"), frames=self.frames(), in_width=a("inWidth"), out_width=a("outWidth"),
                    bits=bits(a("inputDataType")))

    def kernel(self, model) -> Kernel:
        node, a = self.onnx_node, self.get_nodeattr
        for attr in ("inWidth", "outWidth"):
            check_divides(node, attr, a("NumChannels"), a(attr))
        return Kernel(node.name, node.op_type, f"rubicon::DataWidthConverter<{a('NumChannels')}, {a('inWidth')}, "
                      f"{a('outWidth')}, {self.frames()}, {ctype(a('inputDataType'))}>", latency=1)

    def rtl(self, model) -> RtlInstance:
        """hls/rtl/streams.sv dwc: beats of inWidth elements in, outWidth out."""
        a = self.get_nodeattr
        for attr in ("inWidth", "outWidth"):
            check_divides(self.onnx_node, attr, a("NumChannels"), a(attr))
        dtype = a("inputDataType")
        return RtlInstance(self.onnx_node.name, "dwc", ["streams.sv"],
                           {"C": a("NumChannels"), "IN_W": a("inWidth"), "OUT_W": a("outWidth"), "T": self.frames(),
                            "BITS": bits(dtype)}, inputs=[_port(a("inWidth"), dtype)("in")],
                           outputs=[_port(a("outWidth"), dtype)("out")])


class LabelSelect(DataflowOp):
    """Top-K class indices per frame (K = 1: the greedy CTC path)."""

    channel_attr = "K"

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"Labels": ("i", True, 5), "K": ("i", False, 1), "PE": ("i", False, 1)}

    def execute_node(self, context, graph):
        x = self.input_array(context)
        order = np.argsort(-x, axis=-1, kind="stable")  # ties → lower index, like a sequential compare
        context[self.onnx_node.output[0]] = order[..., : self.get_nodeattr("K")]

    @classmethod
    def estimate(cls, *, labels: int, frames: int, bits: int, pe: int = 1, k: int = 1) -> NodeCost:
        """T·Labels/PE cycles (FINN); own: PE comparators and K running bests."""
        R.check_fold("Labels", labels, pe, "PE")
        idx = R.clog2(labels)
        return NodeCost(cycles=frames * labels // pe, lut=20 + pe * bits * 2 + k * (bits + idx),
                        ff=20 + pe * bits + k * (bits + idx))

    def cost_params(self, model, uram: bool = False) -> dict:
        a = self.get_nodeattr
        return dict(labels=a("Labels"), frames=self.frames(), bits=bits(a("inputDataType")), pe=a("PE"), k=a("K"))

    @classmethod
    def fold_choices(cls, params: dict) -> list[dict]:
        return [{"pe": p} for p in divisors(params["labels"])]
