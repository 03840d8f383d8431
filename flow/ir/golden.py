"""Golden execution of a dataflow graph: integer outputs, logits, and every intermediate stream."""
import contextlib
import os
from dataclasses import dataclass

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx

import flow.ir.ops  # noqa: F401  (the op domain must be importable for qonnx's registry)
from flow.numerics.rounding import round_half_even


@dataclass
class GoldenResult:
    accumulators: np.ndarray        # [N, T', classes] integer head output
    logits: np.ndarray              # accumulators · per-class scale, float64
    intermediates: dict[str, np.ndarray]  # every integer stream, by tensor name (on request)
    frame_count: np.ndarray | None = None  # [N] valid frames per chunk (dynamic pooling; else all frames are valid)

    @property
    def log_probs(self) -> np.ndarray:
        z = self.logits - self.logits.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def quantize_input(model: ModelWrapper, chunks: np.ndarray) -> np.ndarray:
    """Normalised float chunks [N, L] → the integer input stream [N, L, 1] (what the driver sends)."""
    scale = float(model.get_metadata_prop("rubicon_input_scale"))
    lo, hi = (int(v) for v in model.get_metadata_prop("rubicon_input_range").split(","))
    return np.clip(round_half_even(np.asarray(chunks, dtype=np.float64) / scale), lo, hi).astype(np.int64)[..., None]


@contextlib.contextmanager
def _no_sanitizing():
    """qonnx would round and clip every tensor to its annotated type after each node, which
    costs more than the ops and could hide a wrong result; the ops check their own ranges."""
    previous = os.environ.get("SANITIZE_QUANT_TENSORS")
    os.environ["SANITIZE_QUANT_TENSORS"] = "0"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["SANITIZE_QUANT_TENSORS"]
        else:
            os.environ["SANITIZE_QUANT_TENSORS"] = previous


def _with_batch(model: ModelWrapper, n: int) -> ModelWrapper:
    copy = ModelWrapper(model.model.__deepcopy__())
    for vi in list(copy.graph.input) + list(copy.graph.output) + list(copy.graph.value_info):
        dims = vi.type.tensor_type.shape.dim
        if dims:
            dims[0].dim_value = n
    return copy


def _execute(model: ModelWrapper, ints: np.ndarray, intermediates: bool) -> dict:
    batched = _with_batch(model, ints.shape[0])
    with _no_sanitizing():
        return execute_onnx(batched, {"global_in": ints}, return_full_exec_context=intermediates)


def run_dataflow_outputs(model: ModelWrapper, ints: np.ndarray) -> dict[str, np.ndarray]:
    """Every graph output for integer input streams [N, L, 1] (what the hardware receives): the
    head's integers `global_out` [N, T', classes], and with dynamic pooling `frame_count` and
    `frame_overflow` [N]. The reference every C-simulation and cycle simulation is held to."""
    context = _execute(model, np.asarray(ints, dtype=np.int64), False)
    return {o.name: np.asarray(context[o.name], dtype=np.int64) for o in model.graph.output}


def run_dataflow_ints(model: ModelWrapper, ints: np.ndarray) -> np.ndarray:
    """The integer head output [N, T', classes] for integer input streams [N, L, 1]."""
    return run_dataflow_outputs(model, ints)["global_out"]


def run_dataflow(model: ModelWrapper, chunks: np.ndarray, intermediates: bool = False) -> GoldenResult:
    """Run the integer graph on normalised chunks [N, L] (L = the exported chunk length)."""
    context = _execute(model, quantize_input(model, chunks), intermediates)
    acc = np.asarray(context["global_out"], dtype=np.int64)
    scale = model.get_initializer("logit_scale").astype(np.float64)
    streams = {}
    if intermediates:
        streams = {k: np.asarray(v) for k, v in context.items() if model.get_initializer(k) is None}
    count = context.get("frame_count")
    return GoldenResult(acc, acc * scale, streams, None if count is None else np.asarray(count, dtype=np.int64))
