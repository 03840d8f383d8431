"""Lowering a QONNX basecaller to the integer dataflow graph (the golden model).

Patterns (QONNX, channels-first) → dataflow ops (channels-last [N, T, C]):
- `Quant` on the graph input → the integer input stream (the driver quantizes; its scale
  is stored as metadata).
- `Conv` (weights from a `Quant`) followed by [BatchNormalization] [activation] `Quant` →
  FMPadding1D + ConvolutionInputGenerator1D + MVAU (dense or grouped, grouped as a
  block-diagonal matrix) or VVAU (depthwise), with the BatchNorm, scales, ReLU and the
  activation quantizer folded into per-channel integer thresholds. Pointwise unstrided
  convolutions feed the MVAU directly.
- `Conv` producing the graph output → MVAU without activation (integer accumulators; the
  per-class scale that turns them into logits is an initializer and metadata).
- `Add` of two quantized streams of one scale, then [activation] `Quant` → AddStreams +
  Thresholding. A stream read by two consumers gets a DuplicateStreams fork.
- Activations: `Relu`, or the monotone swish `Clip(min ≥ x₀)` → `Sigmoid` and `Mul` (c·σ(c),
  `flow.nn.layers.MonotoneSwish`); any non-decreasing function folds into thresholds alike.
- `DynamicPoolQ` (features, predictor accumulators) → the predictor's pointwise `Conv` as an
  MVAU whose thresholds give the LUT index directly (the bias, the pre-LUT shift and the
  clip are one monotone step function, so they fold into thresholds exactly, as FINN folds
  biases) + `DynamicPool`; its frame count and overflow flag become the graph outputs
  `frame_count` and `frame_overflow`.

Thresholds are found by bisection on the exact per-channel function they replace, evaluated
in float64 in the order the QONNX graph computes it, so the integer graph reproduces the
quantizer's rounding (half to even) and clipping exactly. Channels whose folded scale is
negative have their weights negated so every threshold sequence is non-decreasing.
"""
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.basic import qonnx_make_model

from flow.errors import FlowError
from flow.ir.ops.base import DOMAIN
from flow.ir.ops.dynamic_pool import DynamicPoolQ
from flow.numerics.activation import SWISH_ARGMIN, monotone_swish
from flow.numerics.dynamic_pool import format_attributes
from flow.numerics.rounding import round_half_even


@dataclass
class Stream:
    """A quantized activation: integer tensor `name` [N, T, C] whose real value is int · scale."""

    name: str
    scale: float
    bits: int
    signed: bool
    channels: int
    length: int
    lo: int
    hi: int

    @property
    def dtype(self) -> str:
        return f"{'INT' if self.signed else 'UINT'}{self.bits}"

    @property
    def range(self) -> tuple[int, int]:
        return self.lo, self.hi


def int_type_for(lo: int, hi: int) -> str:
    """Smallest qonnx integer DataType name holding [lo, hi]."""
    if lo >= 0:
        return f"UINT{max(1, int(hi).bit_length())}"
    bits = max(int(-lo - 1).bit_length(), int(hi).bit_length()) + 1
    return f"INT{bits}"


class _Quantizer:
    """An activation `Quant` node: scale, bits, signedness, narrow range."""

    def __init__(self, model: ModelWrapper, node):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        scale, zero, bits = (model.get_initializer(i) for i in node.input[1:4])
        if scale is None or zero is None or bits is None:
            raise FlowError(f"{node.name} (Quant): scale, zero point and bit width must be constants")
        if np.asarray(scale).size != 1 or float(np.asarray(zero).ravel()[0]) != 0.0:
            raise FlowError(f"{node.name} (Quant): activations need one per-tensor scale and zero point 0")
        if attrs.get("rounding_mode", b"ROUND") not in (b"ROUND", "ROUND"):
            raise FlowError(f"{node.name} (Quant): rounding mode {attrs.get('rounding_mode')} is not supported (ROUND is)")
        self.node = node
        self.scale = float(np.asarray(scale).ravel()[0])
        self.bits = int(np.asarray(bits).ravel()[0])
        self.signed = bool(attrs.get("signed", 1))
        narrow = bool(attrs.get("narrow", 0))
        if self.signed:
            self.qmin, self.qmax = -(2 ** (self.bits - 1)) + narrow, 2 ** (self.bits - 1) - 1
        else:
            self.qmin, self.qmax = 0, 2**self.bits - 1 - narrow

    def quantize(self, real: np.ndarray) -> np.ndarray:
        return np.clip(round_half_even(real / self.scale), self.qmin, self.qmax).astype(np.int64)

    def stream(self, name: str, channels: int, length: int) -> Stream:
        return Stream(name, self.scale, self.bits, self.signed, channels, length, self.qmin, self.qmax)


def _thresholds(pre: callable, channels: int, q: _Quantizer, acc_lo: int, acc_hi: int) -> np.ndarray:
    """[C, levels] smallest integer acc reaching each output level (pre(acc) non-decreasing)."""
    levels = np.arange(q.qmin + 1, q.qmax + 1)
    lo = np.full((channels, levels.size), acc_lo, dtype=np.int64)
    hi = np.full((channels, levels.size), acc_hi + 1, dtype=np.int64)  # acc_hi + 1: "never fires"
    chan = np.broadcast_to(np.arange(channels)[:, None], lo.shape)
    while np.any(open_ := lo < hi):
        mid = (lo + hi) // 2
        reached = q.quantize(pre(mid, chan)) >= levels[None, :]
        hi = np.where(open_ & reached, mid, hi)
        lo = np.where(open_ & ~reached, mid + 1, lo)
    return lo


class Lowering:
    """One pass over a cleaned QONNX basecaller, building the dataflow graph."""

    def __init__(self, model: ModelWrapper):
        self.src = model
        self.nodes: list = []
        self.inits: dict[str, np.ndarray] = {}
        self.dtypes: dict[str, str] = {}
        self.shapes: dict[str, list[int]] = {}
        self.streams: dict[str, Stream] = {}  # QONNX float tensor name → integer stream
        self.done: set[str] = set()
        self.batch = model.get_tensor_shape(model.graph.input[0].name)[0]
        self.predictors: dict[str, tuple] = {}  # DynamicPoolQ accumulator tensor → its pointwise Conv, lowered later
        self.side_outputs: list[str] = []        # frame_count, frame_overflow

    # -- helpers -------------------------------------------------------------------------
    def _only_consumer(self, tensor: str, expect: tuple[str, ...]):
        consumers = self.src.find_consumers(tensor)
        if len(consumers) != 1 or consumers[0].op_type not in expect:
            names = ", ".join(f"{c.name} ({c.op_type})" for c in consumers) or "the graph output"
            raise FlowError(f"tensor {tensor} feeds {names}; the lowering expects one of {expect} here")
        return consumers[0]

    def _emit(self, op: str, inputs: list[str], outputs: list[str], **attrs):
        name = f"{op}_{sum(n.op_type == op for n in self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, domain=DOMAIN, **attrs))
        return name

    def _tensor(self, name: str, shape: list[int], dtype: str) -> str:
        self.shapes[name], self.dtypes[name] = list(shape), dtype
        return name

    def _init(self, name: str, value: np.ndarray, dtype: str) -> str:
        """Integer constants; float64 containers, since thresholds can exceed float32's exact 2^24."""
        self.inits[name] = value.astype(np.float64)
        self.dtypes[name] = dtype
        return name

    def _weights(self, conv) -> tuple[np.ndarray, np.ndarray, int]:
        wq = self.src.find_producer(conv.input[1])
        if wq is None or wq.op_type != "Quant":
            raise FlowError(f"{conv.name} (Conv): weights must come from a Quant node (a float layer cannot be lowered)")
        w, scale, zero, bits = (self.src.get_initializer(i) for i in wq.input[:4])
        if w is None or scale is None or np.any(zero != 0):
            raise FlowError(f"{conv.name} (Conv): weight quantizer {wq.name} needs constant weights, scales and zero point 0")
        narrow = bool({a.name: helper.get_attribute_value(a) for a in wq.attribute}.get("narrow", 0))
        b = int(np.asarray(bits).ravel()[0])
        qmin, qmax = -(2 ** (b - 1)) + narrow, 2 ** (b - 1) - 1
        w_int = np.clip(round_half_even(w.astype(np.float64) / scale.astype(np.float64)), qmin, qmax).astype(np.int64)
        self.done.add(wq.name)
        return w_int, np.broadcast_to(scale.astype(np.float64).reshape(-1), (w.shape[0],)).copy(), b

    def _activation(self, tensor: str, after: tuple[str, ...] = ()):
        """The chain from `tensor` to its activation quantizer: ([nodes], f, the Quant node), where f is
        the non-decreasing float function between them (identity, ReLU or the monotone swish)."""
        node = self._only_consumer(tensor, (*after, "Relu", "Clip", "Quant"))
        if node.op_type in after or node.op_type == "Quant":
            return [], lambda real: real, node
        if node.op_type == "Relu":
            return [node], lambda real: np.maximum(real, 0.0), self._only_consumer(node.output[0], ("Quant",))
        low = self.src.get_initializer(node.input[1]) if len(node.input) > 1 and node.input[1] else None
        users = {c.op_type: c for c in self.src.find_consumers(node.output[0])}
        sig = users.get("Sigmoid")
        mul = self._only_consumer(sig.output[0], ("Mul",)) if sig is not None and len(users) == 2 else None
        if (low is None or float(low) < SWISH_ARGMIN - 1e-6 or (len(node.input) > 2 and node.input[2])
                or mul is None or users.get("Mul") is not mul):
            raise FlowError(f"{node.name} (Clip): the lowering takes a Clip only as the monotone swish "
                            f"c = max(x, {SWISH_ARGMIN:.4f}), c·sigmoid(c) (flow.nn.layers.MonotoneSwish)")
        x0 = float(low)
        return [node, sig, mul], lambda real: monotone_swish(real, x0), self._only_consumer(mul.output[0], ("Quant",))

    # -- patterns ------------------------------------------------------------------------
    def lower(self) -> ModelWrapper:
        src = self.src
        gin = src.graph.input[0].name
        consumers = src.find_consumers(gin)
        if len(consumers) != 1 or consumers[0].op_type != "Quant":
            first = consumers[0] if consumers else None
            where = f"{first.name} ({first.op_type})" if first else "the graph input"
            raise FlowError(f"{where}: the network input is not quantized, so this is a float model that cannot be "
                            "lowered; give the model YAML input.act_bits and weight/act bits on every layer")
        first = consumers[0]
        q_in = _Quantizer(src, first)
        _, channels, length = src.get_tensor_shape(gin)
        self.streams[first.output[0]] = q_in.stream("global_in", channels, length)
        self._tensor("global_in", [self.batch, length, channels], self.streams[first.output[0]].dtype)
        self.done.add(first.name)
        self.input_quant = q_in
        for node in src.graph.node:
            if node.name in self.done:
                continue
            if node.op_type == "Conv":
                self._conv(node)
            elif node.op_type == "Add":
                self._add(node)
            elif node.op_type == "DynamicPoolQ":
                self._dynamic_pool(node)
            elif node.op_type == "Quant" and all(src.get_initializer(i) is not None for i in node.input[:1]):
                continue  # a weight quantizer, consumed by its Conv
            else:
                raise FlowError(f"{node.name} ({node.op_type}): no lowering for this node here; "
                                "supported: Quant → Conv [BatchNormalization] [Relu | monotone swish] Quant, "
                                "Add of quantized streams")
        return self._build()

    def _conv(self, conv):
        src = self.src
        if conv.input[0] not in self.streams:
            raise FlowError(f"{conv.name} (Conv): its input {conv.input[0]} is not a quantized activation")
        x = self.streams[conv.input[0]]
        attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
        if len(src.get_tensor_shape(conv.input[1])) != 3:
            raise FlowError(f"{conv.name} (Conv): only 1-D convolutions are supported")
        if len(conv.input) > 2 and conv.input[2]:
            raise FlowError(f"{conv.name} (Conv): convolution bias is not supported (fold it into a BatchNorm)")
        w_int, s_w, w_bits = self._weights(conv)
        c_out, c_in_g, k = w_int.shape
        group = int(attrs.get("group", 1))
        stride, dilation = int(attrs.get("strides", [1])[0]), int(attrs.get("dilations", [1])[0])
        pad_l, pad_r = (list(attrs.get("pads", [0, 0])) + [0, 0])[:2]
        t_out = (x.length + pad_l + pad_r - dilation * (k - 1) - 1) // stride + 1
        self.done.add(conv.name)

        # the sliding window (skipped for unstrided pointwise convolutions)
        stream = x.name
        if pad_l or pad_r:
            padded = self._tensor(f"{conv.name}_padded", [self.batch, x.length + pad_l + pad_r, x.channels], x.dtype)
            self._emit("FMPadding1D", [stream], [padded], Pad=[pad_l, pad_r], NumChannels=x.channels, ImgDim=x.length,
                       numInputVectors=[self.batch, x.length], inputDataType=x.dtype, outputDataType=x.dtype)
            stream = padded
        depthwise = group == x.channels == c_out and c_in_g == 1 and group > 1
        if k > 1 or stride > 1:
            t_in = x.length + pad_l + pad_r
            window = self._tensor(f"{conv.name}_window", [self.batch, t_out, k * x.channels], x.dtype)
            self._emit("ConvolutionInputGenerator1D", [stream], [window], ConvKernelDim=k, IFMChannels=x.channels,
                       IFMDim=t_in, OFMDim=t_out, Stride=stride, Dilation=dilation, depthwise=int(depthwise),
                       numInputVectors=[self.batch, t_in], inputDataType=x.dtype, outputDataType=x.dtype)
            stream = window

        # weights as the MVAU/VVAU matrix, and the accumulator range
        xmin, xmax = x.range
        if depthwise:
            matrix = w_int[:, 0, :]  # [C, K]
            per_channel = matrix.T  # [K, C] for range bounds
        else:
            if group > 1 and not (x.channels % group == 0 and c_out % group == 0):
                raise FlowError(f"{conv.name} (Conv): group {group} does not divide the channels")
            matrix = np.zeros((k * x.channels, c_out), dtype=np.int64)
            cin_per_group, cout_per_group = x.channels // group, c_out // group
            for co in range(c_out):
                g = co // cout_per_group
                for kk in range(k):
                    rows = kk * x.channels + g * cin_per_group + np.arange(cin_per_group)
                    matrix[rows, co] = w_int[co, :, kk]
            per_channel = matrix
        acc_lo = int(np.minimum(per_channel * xmin, per_channel * xmax).sum(0).min())
        acc_hi = int(np.maximum(per_channel * xmin, per_channel * xmax).sum(0).max())

        out_name = conv.output[0]
        users = src.find_consumers(out_name)
        if len(users) == 1 and users[0].op_type == "DynamicPoolQ" and users[0].input[1] == out_name:
            if depthwise or k != 1 or stride != 1:
                raise FlowError(f"{conv.name} (Conv): the dynamic-pooling predictor's last layer must be pointwise")
            self.predictors[out_name] = (stream, matrix, x, w_bits, t_out, acc_lo, acc_hi)
            return
        if out_name in [o.name for o in src.graph.output]:
            self._head(conv, stream, matrix, depthwise, x, s_w, w_bits, c_out, t_out, acc_lo, acc_hi)
            return
        # the chain the thresholds replace: [BatchNormalization] [activation] Quant
        bn = None
        chain, act, node = self._activation(out_name, ("BatchNormalization",))
        if node.op_type == "BatchNormalization":
            bn = node
            chain, act, node = self._activation(bn.output[0])
        quant = _Quantizer(src, node)
        self.done.update(n.name for n in (bn, *chain, node) if n is not None)
        gamma = beta = mean = var = None
        eps = 0.0
        if bn is not None:
            gamma, beta, mean, var = (src.get_initializer(i).astype(np.float64) for i in bn.input[1:5])
            eps = float({a.name: helper.get_attribute_value(a) for a in bn.attribute}.get("epsilon", 1e-5))
        slope = s_w * x.scale * (gamma / np.sqrt(var + eps) if bn is not None else 1.0)
        sign = np.where(slope < 0, -1, 1)
        if depthwise:
            matrix = matrix * sign[:, None]
        else:
            matrix = matrix * sign[None, :]

        def pre(acc, chan):
            real = (sign[chan] * acc).astype(np.float64) * (s_w[chan] * x.scale)
            if bn is not None:
                real = (real - mean[chan]) / np.sqrt(var[chan] + eps) * gamma[chan] + beta[chan]
            return act(real)

        thresholds = _thresholds(pre, c_out, quant, acc_lo, acc_hi)
        out = quant.stream(f"{node.output[0]}", c_out, t_out)
        self._compute(conv.name, stream, matrix, depthwise, x, w_bits, c_out, t_out, out, thresholds, acc_lo, acc_hi)
        self.streams[node.output[0]] = out

    def _compute(self, tag, stream, matrix, depthwise, x, w_bits, c_out, t_out, out, thresholds, acc_lo, acc_hi):
        self._tensor(out.name, [self.batch, t_out, c_out], out.dtype)
        th_type = int_type_for(int(thresholds.min()), int(thresholds.max()))
        inputs = [stream, self._init(f"{tag}_weights", matrix, f"INT{w_bits}"),
                  self._init(f"{tag}_thresholds", thresholds, th_type)]
        common = dict(numInputVectors=[self.batch, t_out], inputDataType=x.dtype, outputDataType=out.dtype,
                      weightDataType=f"INT{w_bits}", accDataType=int_type_for(acc_lo, acc_hi), ActVal=int(out.lo))
        if depthwise:
            self._emit("VVAU", inputs, [out.name], Channels=c_out, Kernel=matrix.shape[1], **common)
        else:
            self._emit("MVAU", inputs, [out.name], MW=matrix.shape[0], MH=c_out, **common)

    def _head(self, conv, stream, matrix, depthwise, x, s_w, w_bits, c_out, t_out, acc_lo, acc_hi):
        if depthwise:
            raise FlowError(f"{conv.name} (Conv): a depthwise convolution cannot be the output layer")
        acc_type = int_type_for(acc_lo, acc_hi)
        self._tensor("global_out", [self.batch, t_out, c_out], acc_type)
        self._emit("MVAU", [stream, self._init(f"{conv.name}_weights", matrix, f"INT{w_bits}")], ["global_out"],
                   MW=matrix.shape[0], MH=c_out, numInputVectors=[self.batch, t_out], inputDataType=x.dtype,
                   outputDataType=acc_type, weightDataType=f"INT{w_bits}", accDataType=acc_type, noActivation=1)
        self.logit_scale = s_w * x.scale

    def _add(self, add):
        src = self.src
        a, b = (self.streams.get(i) for i in add.input)
        if a is None or b is None:
            raise FlowError(f"{add.name} (Add): both inputs must be quantized activations")
        if a.scale != b.scale or a.signed != b.signed or a.channels != b.channels or a.length != b.length:
            raise FlowError(f"{add.name} (Add): inputs have different scales or shapes ({a.scale} vs {b.scale}); "
                            "a residual join needs one shared quantizer on both branches")
        chain, act, node = self._activation(add.output[0])
        quant = _Quantizer(src, node)
        self.done.update(n.name for n in (add, *chain, node) if n is not None)
        lo, hi = 2 * a.range[0], 2 * a.range[1]
        summed = self._tensor(f"{add.name}_sum", [self.batch, a.length, a.channels], int_type_for(lo, hi))
        self._emit("AddStreams", [a.name, b.name], [summed], NumChannels=a.channels, numInputVectors=[self.batch, a.length],
                   inputDataType=a.dtype, outputDataType=self.dtypes[summed])

        def pre(acc, chan):
            return act(acc.astype(np.float64) * a.scale)

        thresholds = _thresholds(pre, a.channels, quant, lo, hi)
        out = quant.stream(node.output[0], a.channels, a.length)
        self._tensor(out.name, [self.batch, a.length, a.channels], out.dtype)
        self._emit("Thresholding", [summed, self._init(f"{add.name}_thresholds", thresholds, int_type_for(lo, hi + 1))],
                   [out.name], NumChannels=a.channels, numInputVectors=[self.batch, a.length],
                   inputDataType=self.dtypes[summed], outputDataType=out.dtype, ActVal=int(out.lo))
        self.streams[node.output[0]] = out

    def _dynamic_pool(self, node):
        op = DynamicPoolQ(node)
        fmt = op.get_format()
        luts, thresholds, bias = op.tables()
        feats = self.streams.get(node.input[0])
        if feats is None or feats.signed or feats.bits != fmt.feature_bits or feats.scale != op.get_nodeattr("FeatureScale"):
            raise FlowError(f"{node.name} (DynamicPoolQ): its features must be the UINT{fmt.feature_bits} output of the "
                            "layer's own quantized ReLU (scale as exported)")
        if node.input[1] not in self.predictors:
            raise FlowError(f"{node.name} (DynamicPoolQ): its accumulators must come straight from a quantized "
                            "pointwise Conv (the predictor's last layer)")
        stream, matrix, x, w_bits, t_len, acc_lo, acc_hi = self.predictors.pop(node.input[1])
        # LUT index − 2^(K−1) = clip((acc + bias) >> shift): level v is reached at acc ≥ v·2^shift − bias
        half = 1 << (fmt.lut_bits - 1)
        levels = np.arange(-half + 1, half, dtype=np.int64)
        shifts = np.array([fmt.a_shift, fmt.b_shift], dtype=np.int64)
        index_thresholds = levels[None, :] * (1 << shifts)[:, None] - bias[:, None]
        index = Stream(f"{node.name}_lut_index", 1.0, fmt.lut_bits, True, 2, t_len, -half, half - 1)
        self._compute(f"{node.name}_predictor", stream, matrix, False, x, w_bits, 2, t_len, index, index_thresholds,
                      acc_lo, acc_hi)
        self.done.add(node.name)
        channels, lmax = feats.channels, fmt.lmax
        frames = Stream(node.output[0], float(op.get_nodeattr("OutScale")), fmt.out_bits, False, channels, lmax, 0, fmt.out_max)
        self._tensor(frames.name, [self.batch, lmax, channels], frames.dtype)
        self._tensor("frame_count", [self.batch], int_type_for(0, lmax))
        self._tensor("frame_overflow", [self.batch], "BINARY")
        self.side_outputs = ["frame_count", "frame_overflow"]
        self._emit("DynamicPool", [feats.name, index.name, self._init(f"{node.name}_luts", luts, "UINT32"),
                                   self._init(f"{node.name}_thresholds", np.tile(thresholds, (channels, 1)),
                                              int_type_for(1, int(thresholds.max())))],
                   [frames.name, *self.side_outputs], NumChannels=channels, numInputVectors=[self.batch, t_len],
                   predDataType=index.dtype, **format_attributes(replace(fmt, a_shift=0, b_shift=0)))
        self.streams[node.output[0]] = frames

    # -- assembly ------------------------------------------------------------------------
    def _insert_forks(self) -> None:
        """A stream read by several nodes gets a DuplicateStreams node (streams have one reader)."""
        readers: dict[str, list] = {}
        for node in self.nodes:
            for i, name in enumerate(node.input):
                if name not in self.inits:
                    readers.setdefault(name, []).append((node, i))
        for name, users in readers.items():
            if len(users) < 2:
                continue
            copies = [self._tensor(f"{name}_copy{j}", self.shapes[name], self.dtypes[name]) for j in range(len(users))]
            for (node, i), copy in zip(users, copies):
                node.input[i] = copy
            n, t, c = self.shapes[name]
            fork = helper.make_node("DuplicateStreams", [name], copies, name=f"DuplicateStreams_{name}", domain=DOMAIN,
                                    NumChannels=c, NumOutputStreams=len(users), numInputVectors=[n, t],
                                    inputDataType=self.dtypes[name], outputDataType=self.dtypes[name])
            producer = next((k for k, nd in enumerate(self.nodes) if name in nd.output), -1)
            self.nodes.insert(producer + 1, fork)

    def _build(self) -> ModelWrapper:
        if not hasattr(self, "logit_scale"):
            raise FlowError("the graph output is not produced by a quantized Conv head; nothing to lower it to")
        self._insert_forks()
        value = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, self.shapes[n])  # noqa: E731
        graph = helper.make_graph(
            self.nodes, "dataflow", [value("global_in")], [value(n) for n in ["global_out", *self.side_outputs]],
            value_info=[value(n) for n in self.shapes if n not in ("global_in", "global_out", *self.side_outputs)],
        )
        model = ModelWrapper(qonnx_make_model(graph, producer_name="rubicon"))
        model.model.opset_import.append(helper.make_opsetid(DOMAIN, 1))
        for name, array in self.inits.items():
            model.set_initializer(name, array)
        for name, dtype in self.dtypes.items():
            model.set_tensor_datatype(name, DataType[dtype])
        model.set_initializer("logit_scale", self.logit_scale.astype(np.float32))
        for prop in self.src.model.graph.metadata_props:
            model.set_metadata_prop(prop.key, prop.value)
        model.set_metadata_prop("rubicon_input_scale", repr(self.input_quant.scale))
        model.set_metadata_prop("rubicon_input_range", f"{self.input_quant.qmin},{self.input_quant.qmax}")
        return model


def read_onnx(path: Path) -> ModelWrapper:
    """An ONNX file, parsed and checked by onnx.checker (graph structure, standard-op schemas,
    opset imports) before the lowering looks at it. Ops of other domains, such as QONNX's Quant,
    are outside the checker's schemas; the lowering checks those node by node."""
    if not path.is_file():
        raise FlowError(f"{path} does not exist")
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError and friends for a damaged file
        raise FlowError(f"{path}: not a readable ONNX file ({type(exc).__name__})") from None
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        reason = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        raise FlowError(f"{path}: not a valid ONNX model ({reason})") from None
    return ModelWrapper(proto)


def lower_qonnx(model: ModelWrapper) -> ModelWrapper:
    """The dataflow graph equivalent to a cleaned QONNX basecaller (see module docstring)."""
    return Lowering(model).lower()
