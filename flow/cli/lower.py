"""Lower a QONNX basecaller to the integer dataflow graph (the golden model)."""
from collections import Counter
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper

from flow.cli.common import staged_file
from flow.errors import FlowError
from flow.ir.lower import lower_qonnx


def add_arguments(p):
    p.add_argument("model", type=Path, help="QONNX file from rubicon export")
    p.add_argument("-o", "--out", required=True, type=Path, help="output dataflow .onnx")


def run(args):
    if not args.model.exists():
        raise FlowError(f"{args.model} does not exist")
    try:
        source = ModelWrapper(str(args.model))
    except Exception as exc:  # onnx raises DecodeError and friends for a damaged file
        raise FlowError(f"{args.model}: not a readable ONNX file ({type(exc).__name__})") from None
    dataflow = lower_qonnx(source)
    with staged_file(args.out) as tmp:
        dataflow.save(str(tmp))
    ops = Counter(n.op_type for n in dataflow.graph.node)
    print(f"{args.model} → {args.out}: " + ", ".join(f"{n} {op}" for op, n in sorted(ops.items())))
