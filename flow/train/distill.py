"""Knowledge distillation: the one KD loss (training and SkipClip use it) and teacher targets.

Frame rates: when student and teacher share their output rate (the same total stride), the
student matches the teacher's per-frame class distribution (the KD term). The teacher's
greedy decoding of each chunk is also stored as a pseudo-label, so unlabelled real reads
carry a CTC target at any student rate; a student with a different stride trains on those
pseudo-labels with `kd_alpha = 0`.
"""
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from flow.decode.ctc import greedy_decode
from flow.data.read import encode_bases


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float,
            frames: torch.Tensor | None = None) -> torch.Tensor:
    """T² · KL(teacher ‖ student) of the softened class distributions, mean over valid frames.

    Logits are [N, C, T]; the softmax runs over the class axis C. `frames` [N] gives each row's
    valid frames (the rest is padding, e.g. after dynamic pooling) and masks the others out.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student frames {tuple(student_logits.shape)} and teacher frames {tuple(teacher_logits.shape)} differ")
    s = F.log_softmax(student_logits / temperature, dim=1)
    t = F.log_softmax(teacher_logits.float() / temperature, dim=1)
    kl = (t.exp() * (t - s)).sum(dim=1)  # [N, T]
    if frames is None:
        return temperature**2 * kl.mean()
    mask = torch.arange(kl.shape[1], device=kl.device)[None, :] < frames.to(kl.device)[:, None]
    return temperature**2 * (kl * mask).sum() / mask.sum().clamp(min=1)


def teacher_targets(teacher, chunks: np.ndarray, batch_size: int = 32,
                    device: str = "cpu") -> tuple[np.ndarray, list[np.ndarray]]:
    """Teacher logits [N, C, T'] (float16) and greedy pseudo-labels for every chunk."""
    teacher.eval().to(device)
    logits, labels = [], []
    with torch.no_grad():
        for start in tqdm(range(0, len(chunks), batch_size), desc="teacher", unit="batch"):
            x = torch.from_numpy(np.asarray(chunks[start : start + batch_size], dtype=np.float32))[:, None, :]
            out = teacher.logits(x.to(device)).cpu()
            logits.append(out.half().numpy())
            for lp in torch.log_softmax(out, dim=1).permute(0, 2, 1).numpy():
                seq, _ = greedy_decode(lp)
                labels.append(encode_bases(seq) if seq else np.zeros(0, dtype=np.uint8))
    return np.concatenate(logits), labels
