"""Lower a QONNX basecaller to the integer dataflow graph (the golden model)."""
from collections import Counter
from pathlib import Path

from flow.cli.common import check_output, staged_file
from flow.ir.lower import lower_qonnx, read_onnx


def add_arguments(p):
    p.add_argument("model", type=Path, help="QONNX file from rubicon export")
    p.add_argument("-o", "--out", required=True, type=Path, help="output dataflow .onnx")


def run(args):
    check_output(args.out)
    dataflow = lower_qonnx(read_onnx(args.model))
    with staged_file(args.out) as tmp:
        dataflow.save(str(tmp))
    ops = Counter(n.op_type for n in dataflow.graph.node)
    print(f"{args.model} → {args.out}: " + ", ".join(f"{n} {op}" for op, n in sorted(ops.items())))
