"""Train a model YAML on chunk datasets (CTC, quantization-aware, optional distillation); rerun to resume.

Distillation (`--kd-alpha`, datasets made by `rubicon chunkify --teacher`): loss =
α·T²·KL(teacher ‖ student) + (1−α)·(CTC + label smoothing), per frame, softmax over classes.
"""
from dataclasses import fields
from pathlib import Path

from flow.cli.common import check_output
from flow.errors import FlowError
from flow.data.chunks import load_chunk_dataset
from flow.nn.checkpoint import load_model
from flow.nn.config import load_model_spec
from flow.train.trainer import TrainConfig, train, training_device
from flow.nn.transfer import matching_weights, sliced_weights


def add_arguments(p):
    p.add_argument("model", help="model YAML, or a name in models/")
    p.add_argument("datasets", type=Path, nargs="+", help="chunk dataset directories (rubicon chunkify)")
    p.add_argument("-o", "--out", required=True, type=Path, help="training directory (checkpoints, logs, model.pt)")
    p.add_argument("--init", metavar="MODEL", help="start from the tensors of MODEL whose names and shapes match (e.g. teacher_sbonito)")
    p.add_argument("--init-slice", action="store_true",
                   help="with --init: a narrower or shallower model takes MODEL's leading channels and centre "
                        "kernel taps too (a subnet inheriting the larger model's weights)")
    add_config_arguments(p)


def add_config_arguments(p, **defaults) -> None:
    """One option per TrainConfig field; `defaults` overrides a field's default for this command."""
    for f in fields(TrainConfig):
        kind = int if f.name == "max_steps" else type(f.default)
        p.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=defaults.get(f.name, f.default),
                       help="(default %(default)s)")


def config_from(args) -> TrainConfig:
    """The config of the options; a missing --device fails here, before anything is written."""
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    training_device(cfg.device)
    return cfg


def run(args):
    cfg = config_from(args)
    spec = load_model_spec(args.model)
    if args.init_slice and not args.init:
        raise FlowError("--init-slice needs --init MODEL, the model to slice the weights from")
    seed = sliced_weights if args.init_slice else matching_weights
    init = seed(spec, load_model(args.init)[0]) if args.init else None
    for dataset in args.datasets:  # every input is read before the training folder is made
        load_chunk_dataset(dataset)
    check_output(args.out)
    final = train(spec, args.datasets, args.out, cfg, init_weights=init)
    print(f"model → {final}")
