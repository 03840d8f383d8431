"""The folded dataflow graph as C++: kernels, the streams between them, and the AXI edges.

StreamingFIFO nodes are not kernels here: each one becomes the depth of the stream it sits
on (an `hls::stream` depth pragma in synthesis, a bounded channel in the cycle simulator).
"""
from dataclasses import dataclass

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

import flow.ir.ops  # noqa: F401  (op domain for getCustomOp)
from flow.errors import FlowError
from flow.ir.ops.base import DOMAIN
from flow.ir.ops.cpp import ctype, identifier, int_bits
from flow.ir.ops.kernel import Kernel

DEFAULT_DEPTH = 2
OUT_BEAT_BITS = 32  # one sign-extended head accumulator per output beat


def emit_kernel(model: ModelWrapper, node) -> Kernel:
    """The node's own kernel (`op.kernel`), with its stream inputs and outputs in step() order."""
    if node.domain != DOMAIN:
        raise FlowError(f"{node.name} ({node.op_type}): not a dataflow op (domain {node.domain or 'onnx'!r}); "
                        "only a lowered graph (rubicon lower) has kernels")
    kernel = getCustomOp(node).kernel(model)
    kernel.inputs = [t for t in node.input if model.get_initializer(t) is None]
    kernel.outputs = kernel.outputs or list(node.output)
    return kernel


@dataclass
class Stream:
    tensor: str        # canonical tensor name (a FIFO's output is an alias of its input)
    elem: str          # C++ element type
    width: int         # elements per beat
    depth: int = DEFAULT_DEPTH
    latency: int = 1   # the producer's pipeline depth

    @property
    def ident(self) -> str:
        return "s_" + identifier(self.tensor)

    @property
    def word(self) -> str:
        return f"rubicon::Word<{self.elem}, {self.width}>"


@dataclass
class Network:
    kernels: list[Kernel]
    streams: dict[str, Stream]       # by canonical tensor name
    input_stream: str
    output_stream: str
    in_beat_bits: int
    in_elem_bits: int
    chunk_samples: int               # input elements per chunk
    out_words: int                   # output stream words per chunk
    out_frames: int
    classes: int
    side_stream: str | None = None   # dynamic pooling's {count, overflow}: the chunk's trailer beat

    def stream_of(self, tensor: str) -> Stream:
        return self.streams[self.alias.get(tensor, tensor)]

    @property
    def out_beats(self) -> int:
        """int32 beats per chunk: the head's logits, then the trailer if the model pools dynamically."""
        return self.out_frames * self.classes + (self.side_stream is not None)


def _unique_identifiers(what: str, names: list[str]) -> None:
    """Names are sanitised into C++ identifiers; two names must not become the same one."""
    seen = {"input_adapter": "the input adapter", "output_adapter": "the output adapter"}  # the top's own kernels
    for name in names:
        other = seen.setdefault(identifier(name), name)
        if other != name:
            raise FlowError(f"{what}s {other!r} and {name!r} both become the C++ name {identifier(name)}; rename one")


def build_network(model: ModelWrapper, in_beat_bits: int = 64) -> Network:
    """Kernels and streams of a folded graph; checks that neighbouring beat widths agree."""
    alias: dict[str, str] = {}
    depths: dict[str, int] = {}
    kernels = []
    for node in model.graph.node:
        if node.op_type == "StreamingFIFO":
            source = alias.get(node.input[0], node.input[0])
            alias[node.output[0]] = source
            depths[source] = max(depths.get(source, 0), getCustomOp(node).get_nodeattr("depth"))
        else:
            kernels.append(emit_kernel(model, node))
    _unique_identifiers("node", [k.node for k in kernels])
    canon = lambda t: alias.get(t, t)  # noqa: E731
    ops = {n.name: getCustomOp(n) for n in model.graph.node}
    streams: dict[str, Stream] = {}
    for k in kernels:
        op = ops[k.node]
        for t in k.outputs:
            elem, width = k.words.get(t) or (ctype(model.get_tensor_datatype(t).name), op.out_width())
            streams[canon(t)] = Stream(canon(t), elem, width, depths.get(canon(t), DEFAULT_DEPTH), k.latency)
    gin, gout = model.graph.input[0].name, model.graph.output[0].name
    first = [k for k in kernels if canon(gin) in map(canon, k.inputs)]
    if len(first) != 1:
        raise FlowError(f"the graph input {gin} must feed exactly one kernel (found {len(first)})")
    in_dtype = model.get_tensor_datatype(gin).name
    _unique_identifiers("tensor", [canon(gin), *streams])
    streams[canon(gin)] = Stream(canon(gin), ctype(in_dtype), ops[first[0].node].in_width(), depths.get(canon(gin), DEFAULT_DEPTH))
    for k in kernels:
        k.inputs, k.outputs = [canon(t) for t in k.inputs], [canon(t) for t in k.outputs]
        for i, t in enumerate(k.inputs):
            if t not in streams:
                raise FlowError(f"{k.node} ({k.op_type}): its input {t} has no producer in the graph")
            if streams[t].width != ops[k.node].in_width_of(i):
                raise FlowError(f"{k.node} ({k.op_type}): reads beats of {ops[k.node].in_width_of(i)} elements but its producer "
                                f"writes {streams[t].width}; insert a data-width converter (flow.hw.fold.insert_dwcs)")
    n, length, channels = model.get_tensor_shape(gin)
    _, out_frames, classes = model.get_tensor_shape(gout)
    bits, _ = int_bits(in_dtype)
    out = streams[canon(gout)]
    sides = [t for k in kernels for t in k.outputs if t in k.side_outputs]
    if len(sides) > 1:
        raise FlowError(f"{len(sides)} dynamic-pooling side streams; the output trailer carries one")
    net = Network(kernels, streams, canon(gin), canon(gout), in_beat_bits, bits, length * channels,
                  out_frames * classes // out.width, out_frames, classes, sides[0] if sides else None)
    net.alias = alias
    if (in_beat_bits // bits) % streams[canon(gin)].width or net.chunk_samples % (in_beat_bits // bits):
        raise FlowError(f"the chunk of {net.chunk_samples} samples must fill whole {in_beat_bits}-bit AXI beats of "
                        f"{in_beat_bits // bits} samples; export with a chunk length that is a multiple of {in_beat_bits // bits}")
    return net
