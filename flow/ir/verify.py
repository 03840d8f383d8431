"""Proof that a dataflow graph is the trained network: integer activations, logits, decoded calls.

Two comparisons:
1. Per layer, exact: every integer stream of the dataflow graph equals the matching
   quantizer's integer output in a float64 evaluation of the exported network
   (`flow.ir.reference`), stream by stream (streams carry the QONNX quantizer names).
2. End to end, against the float32 Brevitas model itself: the largest logit difference,
   greedy calls compared chunk by chunk (identical, and base by base), and the count of
   activations where float32 rounding put a value on the other side of a quantization
   boundary (the only place the two can differ).
"""
from dataclasses import dataclass, field

import numpy as np
import torch
from qonnx.core.modelwrapper import ModelWrapper

from flow.decode.ctc import greedy_decode
from flow.evaluate.accuracy import accuracy
from flow.ir.golden import run_dataflow
from flow.ir.ops.dynamic_pool import DynamicPoolQ
from flow.ir.reference import evaluate_qonnx
from flow.nn.model import Basecaller

ACTIVATION_OPS = ("MVAU", "VVAU", "Thresholding", "DynamicPool")


@dataclass
class Equivalence:
    chunks: int
    streams_checked: int = 0
    elements_compared: int = 0
    mismatched_elements: int = 0
    unmatched_streams: list[str] = field(default_factory=list)
    max_logit_error_in_steps: float = 0.0          # against the exact evaluation
    brevitas_max_logit_error_in_steps: float = 0.0  # against float32 Brevitas (boundary flips propagate)
    calls_identical: int = 0                        # greedy calls equal to float32 Brevitas's
    call_agreement_sum: float = 0.0                 # Σ per chunk: accuracy of the graph's call against Brevitas's
    float32_boundary_flips: int = 0

    @property
    def call_agreement(self) -> float:
        """Mean base-level agreement of the graph's greedy calls with float32 Brevitas's (1.0 = identical)."""
        return self.call_agreement_sum / self.chunks if self.chunks else 0.0

    @property
    def exact(self) -> bool:
        """The dataflow graph computes the exported network exactly (every stream, every logit)."""
        return self.mismatched_elements == 0 and not self.unmatched_streams and self.max_logit_error_in_steps <= 1.0


def prove_equivalence(model: Basecaller, exported: ModelWrapper, dataflow: ModelWrapper, chunks: np.ndarray,
                      batch: int = 16) -> Equivalence:
    """Compare the dataflow graph with the exported network and the Brevitas model on `chunks` [N, L].

    Runs `batch` chunks at a time: every intermediate of both executions is held at once.
    """
    chunks = np.asarray(chunks, dtype=np.float32)
    report = Equivalence(chunks=len(chunks))
    quant_scale = {n.output[0]: float(exported.get_initializer(n.input[1])) for n in exported.graph.node
                   if n.op_type == "Quant" and exported.get_initializer(n.input[0]) is None}
    pools = {n.output[0]: float(DynamicPoolQ(n).get_nodeattr("OutScale")) for n in exported.graph.node
             if n.op_type == "DynamicPoolQ"}
    # the predictor's LUT-index stream has no exported tensor; the pooled frames it steers are checked
    streams = [n.output[0] for n in dataflow.graph.node if n.op_type in ACTIVATION_OPS and n.output[0] != "global_out"
               and not n.output[0].endswith("_lut_index")]
    report.streams_checked = len(streams)
    report.unmatched_streams = [name for name in streams if name not in quant_scale and name not in pools]
    step = dataflow.get_initializer("logit_scale").astype(np.float64)
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        golden = run_dataflow(dataflow, part, intermediates=True)
        exact = evaluate_qonnx(exported, part[:, None, :])
        for name in streams:
            if name in quant_scale | pools:
                ref = np.rint(exact[name] / (quant_scale | pools)[name]).astype(np.int64).transpose(0, 2, 1)
                report.elements_compared += ref.size
                report.mismatched_elements += int((ref != golden.intermediates[name]).sum())
        for name in pools:  # the valid-frame count and overflow flag of each chunk
            for side in ("count", "overflow"):
                ref, got = exact[f"{name}_{side}"], golden.intermediates[f"frame_{side}"]
                report.elements_compared += ref.size
                report.mismatched_elements += int((ref != got).sum())
        brevitas, flips = _brevitas_float32(model, part, exact, quant_scale)
        report.float32_boundary_flips += flips
        exact_logits = exact[exported.graph.output[0].name].transpose(0, 2, 1)
        report.max_logit_error_in_steps = max(report.max_logit_error_in_steps,
                                              float((np.abs(golden.logits - exact_logits) / step).max()))
        report.brevitas_max_logit_error_in_steps = max(report.brevitas_max_logit_error_in_steps,
                                                       float((np.abs(golden.logits - brevitas) / step).max()))
        ref_lp = torch.log_softmax(torch.from_numpy(brevitas), -1).numpy()
        for a, b in zip(golden.log_probs, ref_lp):
            ours, theirs = greedy_decode(a)[0], greedy_decode(b)[0]
            report.calls_identical += ours == theirs
            report.call_agreement_sum += _agreement(ours, theirs)
    return report


def _agreement(ours: str, theirs: str) -> float:
    """Base-level agreement of two calls of one chunk (Bonito accuracy of ours against theirs)."""
    if ours == theirs:
        return 1.0
    return accuracy(ours, theirs, min_coverage=0.0) if theirs else 0.0


def _brevitas_float32(model: Basecaller, chunks, exact, quant_scale) -> tuple[np.ndarray, int]:
    """Brevitas logits [N, T, C] (float32, as trained) and how many activations differ from the exact ones."""
    captured = []

    def hook(module, inputs, output):
        value = output.value if hasattr(output, "value") else output
        captured.append(np.rint(value.double().numpy() / float(module.act_quant.scale())).astype(np.int64))

    from brevitas import nn as qnn

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, qnn.QuantReLU | qnn.QuantIdentity)]
    model.eval()
    with torch.no_grad():
        logits = model.logits(torch.from_numpy(chunks)[:, None, :]).permute(0, 2, 1).double().numpy()
    for h in handles:
        h.remove()
    exact_ints = [np.rint(exact[name] / scale).astype(np.int64) for name, scale in quant_scale.items()]
    flips = 0
    for ints in captured:
        same_shape = [e for e in exact_ints if e.shape == ints.shape]
        if same_shape:
            flips += min(int((e != ints).sum()) for e in same_shape)
    return logits, flips
