"""Cost of a dataflow graph: cycles per chunk, LUT, FF, BRAM18, URAM, DSP per node (DESIGN §4.6, §7).

One source of truth for folding (`flow.hw.fold`), the reports and the search's differentiable
cost (`flow.hw.cost`): every figure comes from the node's own op class (`Op.estimate` over
`op.cost_params`, flow.ir.ops; the formulas and their sources are in flow.ir.ops.resources and
each op's docstring). This module adds what belongs to a graph and a target: whether URAM may
be used, and the calibration factors.
"""
from qonnx.custom_op.registry import getCustomOp

import flow.ir.ops as ops
from flow.errors import FlowError
from flow.ir.ops.base import DataflowOp
from flow.ir.ops.resources import DSP_PORT_BITS, METRICS, RESOURCES, NodeCost, total  # noqa: F401  (the cost vocabulary)


def op_class(op_type: str, node_name: str | None = None) -> type[DataflowOp]:
    """The op class of a dataflow op type, or a FlowError naming the node and the ops that have a cost model."""
    cls = getattr(ops, op_type, None) if op_type in ops.__all__ else None
    if cls is None or not issubclass(cls, DataflowOp):
        known = [n for n in ops.__all__ if issubclass(getattr(ops, n), DataflowOp)]
        where = f"{node_name} ({op_type})" if node_name else op_type
        raise FlowError(f"{where}: no cost model for this op (known: {', '.join(known)})")
    return cls


def node_params(model, node, uram: bool = False) -> tuple[str, dict]:
    """(op type, keyword parameters of its estimate) for a graph node; folding is `pe`/`simd`."""
    op_class(node.op_type, node.name)
    return node.op_type, getCustomOp(node).cost_params(model, uram=uram)


def estimate(op_type: str, **params) -> NodeCost:
    """The raw estimate of one op from its parameters (`Op.estimate`)."""
    return op_class(op_type).estimate(**params)


def calibrated_estimate(op_type: str, params: dict, calibration) -> NodeCost:
    """The estimate with the calibration's factors for the op type in its style (`Op.style_key`), or raw
    without a calibration: what folding, reports and the search all read."""
    cls = op_class(op_type)
    return cls.estimate(**params).calibrated(op_type, calibration, cls.style_key(params))


def _uram_available(target) -> bool:
    if target is None:
        return False
    if isinstance(target, str):
        from flow.hw.targets import load_target
        target = load_target(target)
    return target.resources.get("uram", 0) > 0


def _estimate_node(model, node, calibration, uram: bool) -> NodeCost:
    op, params = node_params(model, node, uram=uram)
    try:
        return calibrated_estimate(op, params, calibration)
    except ValueError as e:
        raise FlowError(f"{node.name} ({op}): {e}") from None


def estimate_node(model, node, calibration=None, target=None) -> NodeCost:
    return _estimate_node(model, node, calibration, _uram_available(target))


def estimate_graph(model, calibration=None, target=None) -> dict[str, NodeCost]:
    """{node name: NodeCost} for every node of a dataflow graph, in graph order.

    `calibration`: a `flow.hw.calibration.Calibration` (factors applied per op type), or None for
    raw estimates. `target`: a Target or target name; only decides whether URAM may be used
    (defaults to the calibration's target, else none)."""
    if target is None and calibration is not None and getattr(calibration, "target", None):
        target = calibration.target
    uram = _uram_available(target)
    return {node.name: _estimate_node(model, node, calibration, uram) for node in model.graph.node}
