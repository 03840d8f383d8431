"""Train a model YAML on a chunk dataset (CTC, quantization-aware); rerun to resume."""
from dataclasses import fields
from pathlib import Path

from flow.nn.config import load_model_spec
from flow.train.trainer import TrainConfig, train


def add_arguments(p):
    p.add_argument("model", help="model YAML, or a name in models/")
    p.add_argument("dataset", type=Path, help="chunk dataset directory (rubicon chunkify)")
    p.add_argument("-o", "--out", required=True, type=Path, help="training directory (checkpoints, logs, model.pt)")
    for f in fields(TrainConfig):
        kind = int if f.name == "max_steps" else type(f.default)
        p.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=f.default, help=f"(default %(default)s)")


def run(args):
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    final = train(load_model_spec(args.model), args.dataset, args.out, cfg)
    print(f"model → {final}")
