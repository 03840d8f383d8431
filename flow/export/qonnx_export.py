"""Export a trained Basecaller to a cleaned QONNX graph (`Quant` nodes, shapes and datatypes inferred).

The exported graph computes the pre-softmax logits [N, classes, T'] of one fixed-length
chunk: the static shape the dataflow hardware streams. A dynamic-pooling layer becomes one
`DynamicPoolQ` node (`flow.ir.ops.dynamic_pool`) with its static frame budget Lmax. Model name, stride and chunk length
travel as metadata properties so later stages need not guess them.
"""
import contextlib
import io
import os
from pathlib import Path

import onnx
import torch
from brevitas.export import export_qonnx
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueNodeNames
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.cleanup import cleanup_model

from flow.errors import FlowError
from flow.nn.model import Basecaller


class _Logits(torch.nn.Module):
    """The exported function: signal [N, 1, L] → logits [N, C, L/stride]."""

    def __init__(self, model: Basecaller):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.logits(x)


def export_model(model: Basecaller, path: Path, chunk_len: int) -> ModelWrapper:
    """Write `path` (atomically) and return the cleaned QONNX model."""
    if model.dynamic_pool is not None and not model.dynamic_pool.quantized:
        raise FlowError(f"model {model.spec.name}: its dynamic_pool layer is float; give it weight_bits and act_bits")
    if chunk_len % model.stride:
        raise FlowError(f"chunk length {chunk_len} is not a multiple of the model stride {model.stride}")
    if model.dynamic_pool is not None:
        model.dynamic_pool.prepare_export(model.frames_into(model.dynamic_pool, chunk_len))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    model = model.eval()
    try:
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
            export_qonnx(_Logits(model).eval(), input_t=torch.zeros(1, 1, chunk_len), export_path=str(tmp))
        wrapped = cleanup_model(ModelWrapper(str(tmp)))
        for transform in (InferShapes(), InferDataTypes(), GiveUniqueNodeNames(), GiveReadableTensorNames()):
            wrapped = wrapped.transform(transform)
        for key, value in {"rubicon_model": model.spec.name, "rubicon_stride": str(model.stride),
                           "rubicon_chunk_len": str(chunk_len), "rubicon_classes": str(model.spec.classes)}.items():
            wrapped.set_metadata_prop(key, value)
        onnx.checker.check_model(wrapped.model)
        wrapped.save(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".data").unlink(missing_ok=True)  # torch's exporter leaves an (empty) external-data file
    return wrapped
