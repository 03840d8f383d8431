"""SkipClip: distil a skip-free quantized student from a teacher with skips, cutting the student's skips as it trains.

The student (default: the teacher's layout without skips, 8-bit weights and activations, the
teacher's swish quantized as the monotone swish)
trains with a skip wherever the teacher has one, starting from the teacher's weights; one group
of skips is cut every --stride, and the rest of the run trains without them. Loss =
α·T²·KL(softmax(teacher/T) ‖ softmax(student/T)) over classes, padded frames masked, + (1−α)·CTC,
on datasets with teacher logits (`rubicon chunkify --teacher`). The teacher's logits are computed
once by chunkify, so it stays frozen. Writes OUT/model.pt (skip-free), logs, training_curve.png
and skipclip.png (accuracy as the skips go). Rerun the same command to resume.
"""
from pathlib import Path

from flow.cli.common import check_output
from flow.cli.train import add_config_arguments, config_from
from flow.data.chunks import load_chunk_dataset
from flow.nn.checkpoint import load_model
from flow.nn.config import load_model_spec
from flow.skipclip.run import skipclip
from flow.skipclip.student import default_student


def add_arguments(p):
    p.add_argument("teacher", help="teacher with skips: a model file, a shipped name or a pretrained YAML (teacher_sbonito)")
    p.add_argument("datasets", type=Path, nargs="+", help="chunk datasets with teacher logits (rubicon chunkify --teacher)")
    p.add_argument("-o", "--out", required=True, type=Path, help="training directory (checkpoints, logs, model.pt)")
    p.add_argument("--student", help="student model YAML (default: the teacher's layout without skips, 8-bit, its activation)")
    p.add_argument("--order", default="input", help="cut order: input, output, or encoder indices such as 1+2,3,4,5 (default input)")
    p.add_argument("--stride", default="1ep", help="steps between cuts (400) or epochs (0.5ep) (default 1ep)")
    p.add_argument("--keep-skips", action="store_true", help="cut nothing: the same distillation with the skips kept (ablation)")
    add_config_arguments(p, kd_alpha=0.9, kd_temperature=2.0, lr=5e-4, warmup_steps=50)


def run(args):
    cfg = config_from(args)
    teacher, _ = load_model(args.teacher)
    student = load_model_spec(args.student) if args.student else default_student(teacher.spec)
    for dataset in args.datasets:  # every input is read before the training folder is made
        load_chunk_dataset(dataset)
    check_output(args.out)
    final = skipclip(teacher, student, args.datasets, args.out, cfg, args.order, args.stride, args.keep_skips)
    print(f"skip-free student → {final}")
