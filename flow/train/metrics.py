"""Training logs as CSV and the training-curve plot."""
import csv
from pathlib import Path


class CsvLog:
    """Append-only CSV that can be cut back to a step (so a resumed run has no duplicate rows)."""

    def __init__(self, path: Path, fields: list[str]):
        self.path, self.fields = Path(path), fields

    def truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        rows = [r for r in self.rows() if int(r["step"]) <= step]
        self._write(rows, "w")

    def append(self, row: dict) -> None:
        self._write([row], "a")

    def rows(self) -> list[dict]:
        if not self.path.exists():
            return []
        with open(self.path) as handle:
            return list(csv.DictReader(handle))

    def _write(self, rows: list[dict], mode: str) -> None:
        new = mode == "w" or not self.path.exists()
        with open(self.path, mode, newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.fields)
            if new:
                writer.writeheader()
            writer.writerows(rows)


def plot_training(train_rows: list[dict], valid_rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    if train_rows:
        ax1.plot([int(r["step"]) for r in train_rows], [float(r["loss"]) for r in train_rows], label="train loss")
    if valid_rows:
        ax1.plot([int(r["step"]) for r in valid_rows], [float(r["valid_loss"]) for r in valid_rows], "o-", label="valid loss")
        ax2.plot([int(r["step"]) for r in valid_rows], [100 * float(r["valid_accuracy_median"]) for r in valid_rows], "o-", label="median")
        ax2.plot([int(r["step"]) for r in valid_rows], [100 * float(r["valid_accuracy_mean"]) for r in valid_rows], "s--", label="mean")
    ax1.set_xlabel("step"), ax1.set_ylabel("CTC loss"), ax1.legend(), ax1.grid(alpha=0.3)
    ax2.set_xlabel("step"), ax2.set_ylabel("validation accuracy (%)"), ax2.legend(), ax2.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
