"""Export a trained model (.pt or shipped name) to QONNX for the dataflow flow."""
from pathlib import Path

from flow.cli.common import check_output
from flow.export.qonnx_export import export_model
from flow.nn.checkpoint import load_model


def add_arguments(p):
    p.add_argument("model", help="model file (.pt) or a shipped model name")
    p.add_argument("-o", "--out", required=True, type=Path, help="output .onnx")
    p.add_argument("--chunk-len", type=int, default=4200, help="samples per chunk the hardware takes (default %(default)s)")


def run(args):
    check_output(args.out)
    model, _ = load_model(args.model)
    wrapped = export_model(model, args.out, args.chunk_len)
    ops = {}
    for node in wrapped.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    print(f"{model.spec.name} → {args.out}: " + ", ".join(f"{n} {op}" for op, n in sorted(ops.items())))
