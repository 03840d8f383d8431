"""Vectorised execution of a dataflow graph: the golden model's integers, a whole batch at once.

`flow.ir.golden` runs the graph node by node through qonnx's `execute_onnx` and each op's
numpy `execute_node`, one chunk row at a time where an op streams (dynamic pooling): the
reference every simulation is held to, but too slow to basecall data sets with. This executor
computes the same integers (tests/test_exact.py holds it to `run_dataflow_outputs` element for
element) with whole-batch tensor operations, one function per op type:

- A sliding window (`ConvolutionInputGenerator1D`) is not materialised: its consumer (MVAU,
  VVAU) computes the windowed product as one strided, dilated (grouped) convolution.
- Integer products run as float convolutions and matrix products, which are exact because every
  partial sum is an integer below the float's exact range: each node's bound
  max|input| · max_h Σ|W[:, h]| decides float32 (< 2^24) or float64 (< 2^53) before it runs.
- Multi-thresholds (count of thresholds ≤ value) are a table look-up over the thresholds' span
  (values are clipped to it, which changes no count), or a batched sorted search when the span
  is too wide for a table.
- Dynamic pooling is `flow.numerics.pool_batch.dynamic_pool_batch`, the streaming reference's
  integers without its per-sample loop.

Streams are held channels-first [N, C, T] (what the convolutions take) as float tensors of
exact integers; graph outputs come back channels-last int64, as `run_dataflow_outputs` gives them.
"""
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

import flow.ir.ops  # noqa: F401  (registers the op domain with qonnx)
from flow.errors import FlowError
from flow.numerics.pool_batch import dynamic_pool_batch

FLOAT32_EXACT = 1 << 24   # every integer of magnitude ≤ 2^24 is a float32
FLOAT64_EXACT = 1 << 53
TABLE_ENTRIES = 1 << 22   # largest threshold look-up table (channels × span) before a sorted search


@dataclass
class Windows:
    """The output of a sliding window, kept as its padded source x [N, C, T] and geometry."""
    x: torch.Tensor
    kernel: int
    stride: int
    dilation: int
    t_out: int
    depthwise: bool
    simd: int

    def taps(self) -> torch.Tensor:
        """Source frame of tap k of output frame t: [T_out, K]."""
        return (torch.arange(self.t_out) * self.stride)[:, None] + (torch.arange(self.kernel) * self.dilation)[None, :]

    def materialise(self) -> torch.Tensor:
        """[N, K·C, T_out] in the stream's element order (see ConvolutionInputGenerator1D)."""
        n, c, _ = self.x.shape
        win = self.x[:, :, self.taps()]  # [N, C, T_out, K]
        if self.depthwise:  # element (k, g·SIMD + p) at g·K·SIMD + k·SIMD + p
            win = win.reshape(n, c // self.simd, self.simd, self.t_out, self.kernel).permute(0, 1, 4, 2, 3)
        else:               # element (k, c) at k·C + c
            win = win.permute(0, 3, 1, 2)
        return win.reshape(n, self.kernel * c, self.t_out)


def _stream(x) -> torch.Tensor:
    return x.materialise() if isinstance(x, Windows) else x


def _magnitude(dtype_name: str) -> int:
    dt = DataType[dtype_name]
    return int(max(abs(dt.min()), abs(dt.max())))


def _exact_dtype(bound: int, where: str) -> torch.dtype:
    """The narrowest float that holds every partial sum up to `bound` exactly."""
    if bound < FLOAT32_EXACT:
        return torch.float32
    if bound < FLOAT64_EXACT:
        return torch.float64
    raise FlowError(f"{where}: its sums reach {bound}, beyond the 2^53 that a float64 holds exactly")


class _Thresholds:
    """Multi-thresholding of values bounded by ±bound: out = #{thresholds[c] ≤ v} + bias."""

    def __init__(self, thresholds: np.ndarray, bias: int, bound: int, dtype: torch.dtype, where: str):
        thr = np.asarray(thresholds, dtype=np.int64)
        if thr.ndim != 2 or thr.shape[1] == 0 or np.any(np.diff(thr, axis=1) < 0):
            raise FlowError(f"{where}: thresholds must be [channels, levels ≥ 1], non-decreasing per channel")
        self.bias, self.dtype = int(bias), dtype
        channels = thr.shape[0]
        # Clipping the values to [min − 1, max] of the thresholds changes no count, and nor does
        # clipping thresholds to ±(bound + 1): that keeps both exact in the stream's float type.
        thr = np.clip(thr, -bound - 1, bound + 1)
        self.lo, self.hi = int(thr.min()) - 1, int(thr.max())
        span = self.hi - self.lo + 1
        self.table = None
        if channels * span <= TABLE_ENTRIES:
            values = np.arange(self.lo, self.hi + 1, dtype=np.int64)
            counts = np.stack([np.searchsorted(row, values, side="right") for row in thr]) + self.bias
            self.table = torch.from_numpy(counts.reshape(-1)).to(dtype)
            self.offsets = (torch.arange(channels) * span).reshape(1, channels, 1)  # int64: exact at any span
        else:
            self.sorted = torch.from_numpy(thr).to(dtype)

    def __call__(self, acc: torch.Tensor) -> torch.Tensor:
        acc = acc.to(self.dtype)
        if self.table is not None:
            # acc − lo is an integer in [0, span), so exact in the float; the channel offset is added as int64
            return torch.take(self.table, (acc.clamp(self.lo, self.hi) - self.lo).long() + self.offsets)
        n, c, t = acc.shape
        per_channel = acc.permute(1, 0, 2).reshape(c, n * t).contiguous()
        counts = torch.searchsorted(self.sorted, per_channel, right=True).reshape(c, n, t).permute(1, 0, 2)
        return (counts + self.bias).to(self.dtype)


def _initializer(model: ModelWrapper, node, index: int) -> np.ndarray:
    value = model.get_initializer(node.input[index])
    if value is None:
        raise FlowError(f"{node.name}: input {node.input[index]} must be a constant (initializer)")
    rounded = np.rint(np.asarray(value, dtype=np.float64))
    if not np.array_equal(rounded, value):
        raise FlowError(f"{node.name}: initializer {node.input[index]} holds non-integer values")
    return rounded.astype(np.int64)


def _activation(op, model, node, bound: int, dtype: torch.dtype, threshold_input: int):
    """The node's thresholds as a function of its accumulators (the identity with noActivation)."""
    if op.get_nodeattr("noActivation"):
        return lambda acc: acc
    return _Thresholds(_initializer(model, node, threshold_input), op.get_nodeattr("ActVal"), bound, dtype, node.name)


# -- one function per op type: (op, model, node) → a function of the node's stream inputs ------


def _padding(op, model, node):
    left, right = op.get_nodeattr("Pad")
    return lambda x: (F.pad(_stream(x), (left, right)),)


def _sliding_window(op, model, node):
    k, s, d = (op.get_nodeattr(a) for a in ("ConvKernelDim", "Stride", "Dilation"))
    t_out, depthwise, simd = op.get_nodeattr("OFMDim"), bool(op.get_nodeattr("depthwise")), op.get_nodeattr("SIMD")

    def run(x):
        x = _stream(x)
        if (t_out - 1) * s + (k - 1) * d >= x.shape[-1]:
            raise FlowError(f"{node.name}: window reaches sample {(t_out - 1) * s + (k - 1) * d} of {x.shape[-1]}")
        return (Windows(x, k, s, d, t_out, depthwise, simd),)
    return run


def _mvau(op, model, node):
    w = _initializer(model, node, 1)  # [MW, MH]
    bound = _magnitude(model.get_tensor_datatype(node.input[0]).name) * int(np.abs(w).sum(axis=0).max())
    dtype = _exact_dtype(bound, node.name)
    matrix = torch.from_numpy(w.T.copy()).to(dtype)  # [MH, MW]
    activate = _activation(op, model, node, bound, dtype, 2)
    kernels: dict[int, torch.Tensor] = {}

    def run(x):
        if isinstance(x, Windows) and not x.depthwise:  # row k·C + c of W is tap k, channel c
            if x.kernel not in kernels:
                kernels[x.kernel] = matrix.reshape(matrix.shape[0], x.kernel, -1).permute(0, 2, 1).contiguous()
            acc = F.conv1d(x.x.to(dtype), kernels[x.kernel], stride=x.stride, dilation=x.dilation)[..., : x.t_out]
        else:
            acc = torch.matmul(matrix, _stream(x).to(dtype))
        return (activate(acc),)
    return run


def _vvau(op, model, node):
    w = _initializer(model, node, 1)  # [C, K]
    c, k, pe = op.get_nodeattr("Channels"), op.get_nodeattr("Kernel"), op.get_nodeattr("PE")
    bound = _magnitude(model.get_tensor_datatype(node.input[0]).name) * int(np.abs(w).sum(axis=1).max())
    dtype = _exact_dtype(bound, node.name)
    weights = torch.from_numpy(w).to(dtype)
    activate = _activation(op, model, node, bound, dtype, 2)

    def run(x):
        if isinstance(x, Windows) and x.depthwise and x.simd == pe and x.kernel == k:
            acc = F.conv1d(x.x.to(dtype), weights[:, None, :], stride=x.stride, dilation=x.dilation, groups=c)[..., : x.t_out]
        else:  # the stream order as the VVAU reads it: PE channels per tap, channel groups in turn
            win = _stream(x).to(dtype)
            n, _, t = win.shape
            taps = win.reshape(n, c // pe, k, pe, t).permute(0, 2, 1, 3, 4).reshape(n, k, c, t)
            acc = torch.einsum("nkct,ck->nct", taps, weights)
        return (activate(acc),)
    return run


def _thresholding(op, model, node):
    bound = _magnitude(model.get_tensor_datatype(node.input[0]).name)
    activate = _Thresholds(_initializer(model, node, 1), op.get_nodeattr("ActVal"), bound, _exact_dtype(bound, node.name),
                           node.name)
    return lambda x: (activate(_stream(x)),)


def _add(op, model, node):
    bound = sum(_magnitude(model.get_tensor_datatype(i).name) for i in node.input[:2])
    dtype = _exact_dtype(bound, node.name)
    return lambda a, b: (_stream(a).to(dtype) + _stream(b).to(dtype),)


def _duplicate(op, model, node):
    return lambda x: (x,) * len(node.output)  # no op writes its inputs in place


def _identity(op, model, node):
    return lambda x: (x,)


def _label_select(op, model, node):
    k = op.get_nodeattr("K")
    # descending, ties → the lower class index (a stable sort of −x), as the golden op
    return lambda x: (torch.argsort(-_stream(x), dim=1, stable=True)[:, :k].to(torch.float64),)


def _dynamic_pool(op, model, node):
    fmt = op.get_format()
    luts, thresholds = _initializer(model, node, 2), _initializer(model, node, 3)
    if luts.shape != (2, fmt.lut_size) or thresholds.min() < 1:
        raise FlowError(f"{node.name}: tables must be [2, 2^LutBits] and thresholds ≥ 1")
    dtype = _exact_dtype(fmt.out_max, node.name)

    def run(features, ab):
        ab = _stream(ab).long()
        out, count, overflow = dynamic_pool_batch(_stream(features).long(), ab[:, 0], ab[:, 1], fmt, luts, thresholds)
        return out.to(dtype), count, overflow
    return run


OPS = {"FMPadding1D": _padding, "ConvolutionInputGenerator1D": _sliding_window, "MVAU": _mvau, "VVAU": _vvau,
       "Thresholding": _thresholding, "AddStreams": _add, "DuplicateStreams": _duplicate, "StreamingFIFO": _identity,
       "StreamingDataWidthConverter": _identity, "LabelSelect": _label_select, "DynamicPool": _dynamic_pool}


class FastGraph:
    """A dataflow graph prepared once (weights, tables, float types) and run on many batches."""

    def __init__(self, model: ModelWrapper):
        self.model = model
        self.input = model.graph.input[0].name
        in_dt = model.get_tensor_datatype(self.input)
        self.in_range = (int(in_dt.min()), int(in_dt.max()))
        self.outputs = [o.name for o in model.graph.output]
        self.steps = []
        for node in model.graph.node:
            if node.op_type not in OPS:
                raise FlowError(f"{node.name}: op {node.op_type} has no vectorised form (supported: {', '.join(OPS)})")
            streams = [name for name in node.input if model.get_initializer(name) is None]
            self.steps.append((node, streams, OPS[node.op_type](getCustomOp(node), model, node)))
        last_use = {}
        for i, (_, streams, _) in enumerate(self.steps):
            for name in streams:
                last_use[name] = i
        self.release = [[name for name in streams if last_use[name] == i and name not in self.outputs]
                        for i, (_, streams, _) in enumerate(self.steps)]

    def __call__(self, ints: np.ndarray) -> dict[str, np.ndarray]:
        """Every graph output for integer input streams [N, L, 1], as `run_dataflow_outputs` gives them."""
        ints = np.asarray(ints)
        if ints.ndim != 3 or ints.shape[2] != 1:
            raise FlowError(f"input streams must be [N, L, 1] integers, got shape {ints.shape}")
        if ints.size and (ints.min() < self.in_range[0] or ints.max() > self.in_range[1]):
            raise FlowError(f"input values [{ints.min()}, {ints.max()}] exceed the graph input's range {self.in_range}")
        env = {self.input: torch.from_numpy(np.ascontiguousarray(ints[:, :, 0], dtype=np.float32))[:, None, :]}
        for (node, streams, run), release in zip(self.steps, self.release):
            env.update(zip(node.output, run(*(env[name] for name in streams))))
            for name in release:
                del env[name]
        return {name: _channels_last(env[name]) for name in self.outputs}


def _channels_last(x) -> np.ndarray:
    x = _stream(x)
    if x.ndim == 3:
        x = x.permute(0, 2, 1)
    return x.to(torch.int64).numpy()


def run_fast_outputs(model: ModelWrapper, ints: np.ndarray) -> dict[str, np.ndarray]:
    """One-off form of `FastGraph(model)(ints)`."""
    return FastGraph(model)(ints)
