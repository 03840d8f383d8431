"""Lower a QONNX basecaller to the integer dataflow graph (the golden model)."""
from collections import Counter
from pathlib import Path

import onnx
from qonnx.core.modelwrapper import ModelWrapper

from flow.cli.common import check_output, staged_file
from flow.errors import FlowError
from flow.ir.lower import lower_qonnx


def add_arguments(p):
    p.add_argument("model", type=Path, help="QONNX file from rubicon export")
    p.add_argument("-o", "--out", required=True, type=Path, help="output dataflow .onnx")


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


def run(args):
    check_output(args.out)
    dataflow = lower_qonnx(read_onnx(args.model))
    with staged_file(args.out) as tmp:
        dataflow.save(str(tmp))
    ops = Counter(n.op_type for n in dataflow.graph.node)
    print(f"{args.model} → {args.out}: " + ", ".join(f"{n} {op}" for op, n in sorted(ops.items())))
