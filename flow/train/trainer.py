"""The training loop: AdamW, warmup + cosine, gradient clipping, checkpoint and exact resume.

Determinism: the model is initialised from the seed, and the batch order of epoch e is a
permutation drawn from (seed, e), so the data a step sees depends only on the step number.
A checkpoint holds weights, optimiser state, the step and the losses of the logging window
still open (a checkpoint need not fall on a log row); resuming from it replays the remaining
steps, and writes the remaining log rows, exactly as an uninterrupted run would.
"""
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from flow.decode.ctc import greedy_decode
from flow.data.chunks import load_chunk_dataset
from flow.data.read import decode_bases
from flow.errors import FlowError
from flow.evaluate.accuracy import accuracy
from flow.nn.checkpoint import atomic_save, deferred_interrupts, interrupted, save_model
from flow.nn.config import ModelSpec
from flow.nn.model import build_model, count_parameters
from flow.train.ctc import ctc_loss
from flow.train.distill import kd_loss
from flow.train.metrics import CsvLog, plot_training

TRAIN_FIELDS = ["step", "epoch", "lr", "loss", "ctc", "smooth", "kd"]
VALID_FIELDS = ["step", "epoch", "valid_loss", "valid_accuracy_mean", "valid_accuracy_median"]


@dataclass
class TrainConfig:
    epochs: int = 1
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 200
    grad_clip: float = 2.0
    checkpoint_every: int = 100
    log_every: int = 20
    valid_chunks: int = 200
    max_steps: int | None = None   # stop early (tests, benchmarks); the schedule still spans all epochs
    seed: int = 1
    threads: int = 2
    kd_alpha: float = 0.0          # weight of the distillation term (needs teacher_logits.npy in every dataset)
    kd_temperature: float = 2.0
    device: str = "cpu"            # cpu or cuda: where the steps run (float sums differ in the last bits)


class StepHook:
    """What a training method adds to the plain loop (SkipClip removes skips by step).

    A hook's state must follow from the step alone, so a resumed run matches an uninterrupted
    one; `identity()` is checked on resume like the config.
    """

    def identity(self) -> dict:
        return {}

    def before_step(self, model, step: int) -> None:
        """Set the model up for `step` (0-based) before its batch runs."""

    def validate_at(self, step: int) -> bool:
        """Validate after `step` steps, besides every epoch's end."""
        return False

    def finish(self, model):
        """The model to save as model.pt once training ends."""
        return model


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


class _Data:
    """One or more chunk datasets seen as one; each keeps its last chunks for validation."""

    def __init__(self, directories: list[Path], cfg: TrainConfig):
        sets = [load_chunk_dataset(d) for d in directories]
        lengths = {s.chunks.shape[1] for s in sets}
        if len(lengths) > 1:
            raise FlowError(f"datasets {', '.join(map(str, directories))} have different chunk lengths {sorted(lengths)}")
        self.with_teacher = all(s.teacher_logits is not None for s in sets)
        if cfg.kd_alpha > 0 and not self.with_teacher:
            missing = [str(d) for d, s in zip(directories, sets) if s.teacher_logits is None]
            raise FlowError(f"--kd-alpha needs teacher logits; {', '.join(missing)} has none (rubicon chunkify --teacher)")
        self.sets = sets
        self.offsets = np.cumsum([0] + [len(s) for s in sets])
        train, valid = [], []
        per_set = max(1, cfg.valid_chunks // len(sets))
        for offset, s in zip(self.offsets, sets):
            n_valid = min(per_set, len(s) // 10)
            train.append(np.arange(offset, offset + len(s) - n_valid))
            valid.append(np.arange(offset + len(s) - n_valid, offset + len(s)))
        self.train_ids, self.valid = np.concatenate(train), np.concatenate(valid)
        if not len(self.valid):
            sizes = ", ".join(f"{d}: {len(s)} chunks" for d, s in zip(directories, sets))
            raise FlowError(f"{sizes}; validation holds out the last tenth of every dataset, so one needs at "
                            "least 10 chunks (chunkify more reads)")
        self.steps_per_epoch = len(self.train_ids) // cfg.batch_size
        if self.steps_per_epoch == 0:
            raise FlowError(f"{directories[0]}: {len(self.train_ids)} training chunks is fewer than one batch of {cfg.batch_size}")
        self.seed, self.batch = cfg.seed, cfg.batch_size

    def batch_indices(self, step: int) -> np.ndarray:
        epoch, index = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.train_ids))
        return np.sort(self.train_ids[order[index * self.batch : (index + 1) * self.batch]])

    def _gather(self, field: str, idx: np.ndarray) -> list[np.ndarray]:
        which = np.searchsorted(self.offsets, idx, side="right") - 1
        return [np.asarray(getattr(self.sets[w], field)[i - self.offsets[w]]) for w, i in zip(which, idx)]

    def tensors(self, idx: np.ndarray):
        """Signal [B, 1, L], labels [B, S], label lengths [B], teacher logits [B, C, T'] or None."""
        x = torch.from_numpy(np.stack(self._gather("chunks", idx)).astype(np.float32))[:, None, :]
        lengths = np.array([int(n) for n in self._gather("reference_lengths", idx)], dtype=np.int64)
        refs = self._gather("references", idx)
        y = np.zeros((len(idx), max(1, lengths.max())), dtype=np.int64)
        for row, (ref, n) in enumerate(zip(refs, lengths)):
            y[row, :n] = ref[:n]
        teacher = torch.from_numpy(np.stack(self._gather("teacher_logits", idx))) if self.with_teacher else None
        return x, torch.from_numpy(y), torch.from_numpy(lengths), teacher


def step_loss(model, x, y, lengths, teacher, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """CTC (+ smoothing) on the labels, plus the KD term when `kd_alpha` > 0."""
    logits, frames = model.logits_and_lengths(x)  # frames: valid outputs per row (dynamic pooling)
    losses = ctc_loss(torch.log_softmax(logits, dim=1).permute(2, 0, 1), y, lengths, frames)
    if cfg.kd_alpha > 0:
        if teacher.shape != logits.shape or getattr(model, "dynamic_pool", None) is not None:
            raise FlowError(_frame_mismatch(model, teacher, logits))
        losses["kd"] = kd_loss(logits, teacher, cfg.kd_temperature, frames)
        losses["total"] = cfg.kd_alpha * losses["kd"] + (1 - cfg.kd_alpha) * losses["total"]
    else:
        losses["kd"] = logits.new_zeros(())
    return losses


def _frame_mismatch(model, teacher, logits) -> str:
    """Why per-frame KD cannot pair these frames, and the fix."""
    if getattr(model, "dynamic_pool", None) is not None:
        return ("per-frame KD: a dynamic-pooling student's frames depend on the signal, so no frame pairs with a "
                "teacher frame; it trains on the teacher's pseudo-labels alone (--kd-alpha 0)")
    have = f"teacher frames {tuple(teacher.shape[1:])} do not match the student's {tuple(logits.shape[1:])}"
    return (f"{have}: the student's total stride is {model.stride}; per-frame KD needs the teacher's, otherwise train "
            "on the pseudo-labels alone (--kd-alpha 0)")


def validate(model, data: _Data, batch_size: int, device: torch.device = torch.device("cpu")) -> dict[str, float]:
    model.eval()
    losses, accs = [], []
    with torch.no_grad():
        for start in range(0, len(data.valid), batch_size):
            idx = data.valid[start : start + batch_size]
            x, y, lengths, _ = data.tensors(idx)
            log_probs, frames = model.forward_with_lengths(x.to(device))
            losses.append(float(ctc_loss(log_probs, y.to(device), lengths.to(device), frames)["ctc"]) * len(idx))
            log_probs, frames = log_probs.cpu(), frames.cpu()
            for i in range(len(idx)):
                call, _ = greedy_decode(log_probs[: frames[i], i].numpy())
                accs.append(accuracy(call, decode_bases(y[i, : lengths[i]].numpy())))
    model.train()
    return {
        "valid_loss": sum(losses) / len(data.valid),
        "valid_accuracy_mean": float(np.mean(accs)),
        "valid_accuracy_median": float(np.median(accs)),
    }


def schedule_steps(datasets: list[Path], cfg: TrainConfig) -> int:
    """The steps a complete run of these datasets and settings takes (`max_steps` may stop it sooner)."""
    return cfg.epochs * _Data([Path(d) for d in datasets], cfg).steps_per_epoch


def train(spec: ModelSpec, datasets: Path | list[Path], out_dir: Path, cfg: TrainConfig, init_weights: dict | None = None,
          hook: StepHook | None = None) -> Path:
    """Train (or resume) into out_dir; returns the final model file out_dir/model.pt.

    `init_weights` seeds the model before training (e.g. a teacher's matching tensors).
    """
    hook = hook or StepHook()
    device = training_device(cfg.device)
    datasets = [Path(d) for d in (datasets if isinstance(datasets, list | tuple) else [datasets])]
    out_dir = Path(out_dir)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    data = _Data(datasets, cfg)  # bad data fails here, before the training folder exists
    out_dir.mkdir(parents=True, exist_ok=True)
    model = build_model(spec)
    if init_weights is not None:
        model.load_state_dict(init_weights)
    total = cfg.epochs * data.steps_per_epoch
    last = total if cfg.max_steps is None else min(total, cfg.max_steps)
    ckpt_path = out_dir / "checkpoint.pt"
    train_log = CsvLog(out_dir / "train_log.csv", TRAIN_FIELDS)
    valid_log = CsvLog(out_dir / "valid_log.csv", VALID_FIELDS)
    step = 0
    state = None
    running = []  # per-step losses since the last train_log row
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if (state["spec"] != spec.to_dict() or _resumable(state["config"]) != _resumable(asdict(cfg))
                or state.get("hook", {}) != hook.identity()):
            raise FlowError(f"{ckpt_path}: checkpoint was made with another model or config; use a new --out or delete it")
        model.load_state_dict(state["model"])
    # Moved and then given its optimizer after loading: Brevitas replaces some parameters
    # (quantizer scales) on load_state_dict, and an optimizer made earlier would keep updating the old ones.
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
        running = [list(row) for row in state.get("running", [])]
        hook.before_step(model, max(step - 1, 0))  # the set-up the saved weights last trained in
        print(f"resuming from {ckpt_path} at step {step}/{last}")
    train_log.truncate_after(step)
    valid_log.truncate_after(step)
    (out_dir / "config.yaml").write_text(_describe(spec, cfg, datasets, model, hook))

    def save_checkpoint():
        atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                     "running": running, "spec": spec.to_dict(), "config": asdict(cfg), "hook": hook.identity()}, ckpt_path)

    # Ctrl-C / SIGTERM finish the current step, save a checkpoint and stop, so the
    # checkpoint always matches the step count it records.
    model.train()
    bar = tqdm(total=last, initial=step, desc=f"train {spec.name}", unit="step", dynamic_ncols=True)
    with deferred_interrupts() as stop:
        while step < last:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total, cfg)
            hook.before_step(model, step)
            batch = [t if t is None else t.to(device) for t in data.tensors(data.batch_indices(step))]
            losses = step_loss(model, *batch, cfg)
            optimizer.zero_grad()
            losses["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            step += 1
            running.append([losses[k].item() for k in ("total", "ctc", "smooth", "kd")])
            bar.update(1)
            if step % cfg.log_every == 0 or step == last:
                mean = np.mean(running, axis=0)
                running = []
                train_log.append({"step": step, "epoch": step / data.steps_per_epoch, "lr": optimizer.param_groups[0]["lr"],
                                  "loss": mean[0], "ctc": mean[1], "smooth": mean[2], "kd": mean[3]})
                bar.set_postfix(loss=f"{mean[0]:.3f}")
            if step % data.steps_per_epoch == 0 or step == last or hook.validate_at(step):
                metrics = validate(model, data, cfg.batch_size, device)
                valid_log.append({"step": step, "epoch": step / data.steps_per_epoch, **metrics})
                bar.write(f"step {step}: valid loss {metrics['valid_loss']:.3f}, "
                          f"accuracy median {100 * metrics['valid_accuracy_median']:.1f}%")
            if step % cfg.checkpoint_every == 0 or step == last or stop:
                save_checkpoint()
            if stop:
                bar.close()
                raise interrupted(step, ckpt_path)
    bar.close()
    plot_training(train_log.rows(), valid_log.rows(), out_dir / "training_curve.png", f"{spec.name} ({count_parameters(model):,} parameters)")
    final = out_dir / "model.pt"
    rows = valid_log.rows()
    model.to("cpu")
    save_model(hook.finish(model), final, {"steps": step, "seed": cfg.seed, "datasets": [str(d) for d in datasets],
                              "valid_accuracy_median": float(rows[-1]["valid_accuracy_median"]) if rows else None})
    return final


def _resumable(config: dict) -> dict:
    """The settings a resumed run must share with the run it continues (max_steps may grow; the
    thread count and the device are the machine's business: they change speed and the last bits
    of float sums, not the recipe).

    Settings added since the checkpoint was written count at their defaults.
    """
    return {k: v for k, v in (asdict(TrainConfig()) | config).items() if k not in ("max_steps", "threads", "device")}


def training_device(name: str) -> torch.device:
    """The device named by --device, or a clear error where it does not exist."""
    if name not in ("cpu", "cuda"):
        raise FlowError(f"--device {name!r}: choose cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise FlowError("--device cuda: no CUDA device is available (torch was built without CUDA, or no GPU is "
                        "visible); use --device cpu")
    return torch.device(name)


def _describe(spec: ModelSpec, cfg: TrainConfig, datasets, model, hook: StepHook) -> str:
    import yaml

    return yaml.safe_dump({"model": spec.to_dict(), "train": asdict(cfg), "datasets": [str(d) for d in datasets],
                           "parameters": count_parameters(model), "torch": str(torch.__version__),
                           **({"method": hook.identity()} if hook.identity() else {})}, sort_keys=False)
