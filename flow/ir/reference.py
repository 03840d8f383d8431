"""Float64 evaluation of an exported QONNX basecaller.

Same float32 parameters and scales as the exported graph (and as the float32 Brevitas
model that wrote it), but float64 arithmetic, so sums of quantized products are exact and
every quantizer sees the mathematically exact value. This is the arithmetic the integer
thresholds encode; float32 execution differs from it only where a value falls within
float32 rounding error of a quantization boundary.
"""
import numpy as np
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper

from flow.errors import FlowError
from flow.numerics.rounding import round_half_even
from flow.ir.ops.dynamic_pool import DynamicPoolQ


def _quant(x, scale, zero, bits, signed, narrow):
    b = int(bits)
    lo = (-(2 ** (b - 1)) + narrow) if signed else 0
    hi = (2 ** (b - 1) - 1) if signed else 2**b - 1 - narrow
    q = np.clip(round_half_even(x / scale + zero), lo, hi)
    return (q - zero) * scale


def _conv1d(x, w, pads, stride, dilation, group):
    n, c_in, _ = x.shape
    c_out, c_in_g, k = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[1])))
    t_out = (x.shape[2] - dilation * (k - 1) - 1) // stride + 1
    taps = np.arange(t_out)[:, None] * stride + np.arange(k)[None, :] * dilation  # [T, K]
    windows = x[:, :, taps].reshape(n, group, c_in_g, t_out, k)  # [N, G, Cg, T, K]
    weights = w.reshape(group, c_out // group, c_in_g, k)  # [G, Og, Cg, K]
    return np.einsum("ngctk,gock->ngot", windows, weights, optimize=True).reshape(n, c_out, t_out)


def evaluate_qonnx(model: ModelWrapper, signal: np.ndarray) -> dict[str, np.ndarray]:
    """Every tensor of the graph for input [N, 1, L] (float64)."""
    values = {model.graph.input[0].name: np.asarray(signal, dtype=np.float64)}
    for init in model.graph.initializer:
        values[init.name] = model.get_initializer(init.name).astype(np.float64)
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        ins = [values[i] for i in node.input if i]
        if node.op_type == "Quant":
            out = _quant(*ins[:4], attrs.get("signed", 1), attrs.get("narrow", 0))
        elif node.op_type == "Conv":
            out = _conv1d(ins[0], ins[1], list(attrs.get("pads", [0, 0])), attrs.get("strides", [1])[0],
                          attrs.get("dilations", [1])[0], attrs.get("group", 1))
            if len(ins) > 2:
                out = out + ins[2][None, :, None]
        elif node.op_type == "BatchNormalization":
            x, gamma, beta, mean, var = ins
            eps = attrs.get("epsilon", 1e-5)
            out = (x - mean[None, :, None]) / np.sqrt(var[None, :, None] + eps) * gamma[None, :, None] + beta[None, :, None]
        elif node.op_type == "Relu":
            out = np.maximum(ins[0], 0.0)
        elif node.op_type == "Add":
            out = ins[0] + ins[1]
        elif node.op_type == "DynamicPoolQ":
            op = DynamicPoolQ(node)
            frames, values[f"{node.output[0]}_count"], values[f"{node.output[0]}_overflow"] = op.run(*ins)
            out = frames * np.float64(np.float32(op.get_nodeattr("OutScale")))
        else:
            raise FlowError(f"{node.name} ({node.op_type}): not supported by the float64 reference")
        values[node.output[0]] = out
    return values
