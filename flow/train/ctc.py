"""CTC loss with label smoothing toward a fixed class prior (Bonito style)."""
import torch
import torch.nn.functional as F

BLANK_PRIOR = 0.4


def smoothing_weights(classes: int) -> torch.Tensor:
    """Blank gets BLANK_PRIOR, the bases share 0.1; scaled like Bonito's smoothing term."""
    return torch.tensor([BLANK_PRIOR] + [0.1 / (classes - 1)] * (classes - 1))


def ctc_loss(log_probs: torch.Tensor, targets: torch.Tensor, target_lengths: torch.Tensor,
             input_lengths: torch.Tensor | None = None, smoothing: bool = True) -> dict[str, torch.Tensor]:
    """log_probs [T, N, C]; targets [N, S] 0-padded labels 1..C-1; returns total, ctc and smoothing terms.

    `input_lengths` [N] are the valid frames of each row (default: all T); padded frames
    count in neither term.
    """
    T, N, C = log_probs.shape
    if input_lengths is None:
        input_lengths = torch.full((N,), T, dtype=torch.int64)
    ctc = F.ctc_loss(log_probs.float(), targets, input_lengths, target_lengths, reduction="mean", zero_infinity=True)
    if not smoothing:
        smooth = log_probs.new_zeros(())
    elif bool((input_lengths < T).any()):  # padded rows (dynamic pooling): smooth the valid frames only
        frame = torch.arange(T, device=log_probs.device)[:, None]
        valid = (frame < input_lengths.to(log_probs.device, torch.int64)[None, :]).to(log_probs)  # [T, N]
        weighted = (log_probs * smoothing_weights(C).to(log_probs)[None, None, :]).sum(-1)
        smooth = -(weighted * valid).sum() / (valid.sum().clamp(min=1) * C)
    else:
        smooth = -(log_probs * smoothing_weights(C).to(log_probs)[None, None, :]).mean()
    return {"total": ctc + smooth, "ctc": ctc, "smooth": smooth}


def total_ctc_loss(log_probs: torch.Tensor, targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
    """The CTC + smoothing total over every frame: the task loss a search and its probe rank paths by."""
    return ctc_loss(log_probs, targets, target_lengths)["total"]
