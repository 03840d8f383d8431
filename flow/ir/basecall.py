"""Basecalling with the integer dataflow graph: the accuracy of what the hardware computes.

The float32 Brevitas model approximates the integer graph (DESIGN §4.4: rare rounding flips
at quantization boundaries propagate). `ExactScorer` instead quantizes each chunk as the
driver does (`quantize_input`), runs the graph's integers (`flow.ir.fast`, equal to the golden
model) and turns the head's accumulators into log-probabilities with the per-class logit
scale; `flow.basecall.caller` does the chunking, stitching and decoding for both paths.
"""
import tempfile
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from flow.errors import FlowError
from flow.ir.fast import FastGraph
from flow.ir.golden import GoldenResult, quantize_input
from flow.ir.lower import lower_qonnx, read_onnx
from flow.ir.ops.base import DOMAIN

BUILD_GRAPHS = ("final.onnx", "folded.onnx", "dataflow.onnx")  # a build's graphs, the one nearest the hardware first
DEFAULT_CHUNK_LEN = 4200


class ExactScorer:
    """Chunks → log-probabilities of the integer dataflow graph (a `flow.basecall.caller.Scorer`)."""

    def __init__(self, dataflow: ModelWrapper, source: str = "dataflow graph"):
        self.model = dataflow
        self.graph = FastGraph(dataflow)
        missing = [k for k in ("rubicon_input_scale", "rubicon_input_range") if dataflow.get_metadata_prop(k) is None]
        if missing or dataflow.get_initializer("logit_scale") is None or "global_out" not in self.graph.outputs:
            raise FlowError(f"{source}: not a dataflow graph from `rubicon lower` (no {', '.join(missing) or 'logit_scale or global_out'})")
        # the static shapes: input [N, L, 1], head [N, L / stride, classes] (Lmax = L / stride with dynamic pooling)
        self.chunk_len = int(dataflow.get_tensor_shape(self.graph.input)[1])
        self.stride = self.chunk_len // int(dataflow.get_tensor_shape("global_out")[1])
        self.logit_scale = dataflow.get_initializer("logit_scale").astype(np.float64)
        self.source = source

    def __call__(self, chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if chunks.shape[1] != self.chunk_len:
            raise FlowError(f"{self.source} takes chunks of {self.chunk_len} samples, not {chunks.shape[1]}")
        outs = self.graph(quantize_input(self.model, chunks))
        acc = outs["global_out"]
        log_probs = GoldenResult(acc, acc * self.logit_scale, {}).log_probs
        return log_probs.astype(np.float32), outs.get("frame_count")


def _is_dataflow(model: ModelWrapper) -> bool:
    return any(node.domain == DOMAIN for node in model.graph.node)


def dataflow_graph(source, chunk_len: int | None = None) -> tuple[ModelWrapper, str]:
    """The integer dataflow graph that `source` names, and a description of where it came from.

    - a build directory: its final.onnx (else folded.onnx, dataflow.onnx), at the build's chunk length;
    - an .onnx file: a dataflow graph as is, a QONNX export lowered;
    - a model (.pt, .yaml with pretrained weights, or a shipped name): exported to QONNX at
      `chunk_len` (default 4200) and lowered, as a build does, in a temporary folder.
    A `chunk_len` that differs from a graph's own is an error: the graph's shape is static.
    """
    path = Path(source)
    if path.is_dir():
        found = next((path / name for name in BUILD_GRAPHS if (path / name).is_file()), None)
        if found is None:
            raise FlowError(f"{path} holds none of {', '.join(BUILD_GRAPHS)}: not a build directory "
                            f"(run `rubicon build -o {path}` first)")
        model, described = read_onnx(found), str(found)
    elif path.suffix == ".onnx":
        model, described = read_onnx(path), str(path)
        if not _is_dataflow(model):
            model = lower_qonnx(model)
    else:
        from flow.export.qonnx_export import export_model
        from flow.nn.checkpoint import load_model

        net, _ = load_model(str(source))
        length = chunk_len or DEFAULT_CHUNK_LEN
        with tempfile.TemporaryDirectory(prefix="rubicon-exact-") as tmp:
            model = lower_qonnx(export_model(net, Path(tmp) / "model.onnx", length))
        return model, f"{source} (integer graph at {length} samples per chunk)"
    own = model.get_tensor_shape(model.graph.input[0].name)[1]
    if chunk_len is not None and int(own) != chunk_len:
        raise FlowError(f"{described} was built for chunks of {own} samples; drop --chunk-len {chunk_len} or rebuild")
    return model, described


def exact_scorer(source, chunk_len: int | None = None) -> ExactScorer:
    """An `ExactScorer` of a model, an .onnx file or a build directory (see `dataflow_graph`)."""
    return ExactScorer(*dataflow_graph(source, chunk_len))
