"""One SkipClip run: the student's training form seeded from the teacher, trained with the KD loss
while the schedule cuts its skips, saved skip-free; plus the plot of accuracy as the skips go."""
from pathlib import Path

from flow.errors import FlowError
from flow.nn.config import ModelSpec
from flow.nn.transfer import matching_weights
from flow.skipclip.schedule import SkipSchedule, parse_order
from flow.skipclip.student import skip_layers, training_form
from flow.train.metrics import CsvLog
from flow.train.trainer import VALID_FIELDS, TrainConfig, schedule_steps, train


def plan(student: ModelSpec, teacher: ModelSpec, datasets: list[Path], cfg: TrainConfig, order: str, stride: str,
         keep_skips: bool = False) -> tuple[ModelSpec, SkipSchedule]:
    """The spec that trains and its schedule; refuses a schedule that would not cut every skip before the end.

    `stride`: steps between cuts (`400`), or epochs with an `ep` suffix (`0.5ep`).
    """
    form = training_form(student, teacher)
    blocks = skip_layers(form)
    if not blocks:
        raise FlowError(f"the teacher {teacher.name} has no skip connections; SkipClip has nothing to remove")
    total = schedule_steps(datasets, cfg)
    steps = _stride_steps(stride, total, cfg.epochs)
    schedule = SkipSchedule([] if keep_skips else parse_order(order, blocks), steps)
    if schedule.last_cut() >= total:
        raise FlowError(f"--stride {stride} cuts the last of {len(schedule.groups)} skip groups at step "
                        f"{schedule.last_cut()}, but a complete run is {total} steps; use a smaller --stride or more --epochs")
    return form, schedule


def _stride_steps(stride: str, total: int, epochs: int) -> int:
    text = str(stride).strip()
    try:
        if text.endswith("ep"):
            return max(1, round(float(text[:-2]) * total / (epochs if epochs else 1)))
        return int(text)
    except ValueError:
        raise FlowError(f"--stride {stride!r}: give steps (400) or epochs with `ep` (0.5ep)") from None


def skipclip(teacher_model, student: ModelSpec, datasets: list[Path], out: Path, cfg: TrainConfig, order: str = "input",
             stride: str = "1ep", keep_skips: bool = False) -> Path:
    """Train the SkipClip student into `out`; returns out/model.pt (the skip-free student)."""
    if cfg.kd_alpha <= 0:
        raise FlowError("SkipClip distils per frame: --kd-alpha must be above 0 (0.9 is RUBICON's documented value)")
    form, schedule = plan(student, teacher_model.spec, datasets, cfg, order, stride, keep_skips)
    final = train(form, datasets, out, cfg, init_weights=matching_weights(form, teacher_model), hook=schedule)
    plot_skip_removal(CsvLog(out / "valid_log.csv", VALID_FIELDS).rows(), schedule, out / "skipclip.png",
                      f"SkipClip: {student.name} from {teacher_model.spec.name}")
    return final


def plot_skip_removal(valid_rows: list[dict], schedule: SkipSchedule, path: Path, title: str) -> None:
    """Validation accuracy against step, each cut marked with the skips left after it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    steps = [int(r["step"]) for r in valid_rows]
    ax.plot(steps, [100 * float(r["valid_accuracy_median"]) for r in valid_rows], "o-", label="validation median")
    for k in range(1, len(schedule.groups) + 1):
        at = k * schedule.stride
        ax.axvline(at, color="grey", ls=":", lw=1)
        ax.text(at, 1.0, f" {len(schedule.active(at))} left", transform=ax.get_xaxis_transform(), va="bottom",
                ha="center", fontsize=8)
    ax.set_xlabel("step (dotted: a skip group cut)"), ax.set_ylabel("accuracy (%)"), ax.grid(alpha=0.3), ax.legend()
    ax.set_title(title, pad=16)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
