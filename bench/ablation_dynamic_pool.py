"""Dynamic pooling ablation (issue 7): heron_dp vs heron_strided (a stride-3 conv at equal MACs)
on simulated reads with strong read-speed variation and with none, same training budget, 2+ seeds.

Every stage is skipped when its output exists and training resumes from its checkpoint, so an
interrupted run continues where it stopped. Writes reports/ablation/dynamic_pool.{json,md} and
the per-read pooling-factor plot (Heron's Figure 7) pooling_vs_speed.png.

Usage: python bench/ablation_dynamic_pool.py [--runs runs/ablation] [--seeds 1 2] [--steps 2000]
           [--conditions strong none] [--models heron_dp heron_strided] [--threads 1] [--report-only]
"""
import argparse
import csv
import json
from pathlib import Path

import numpy as np

from flow.cli import main as rubicon
from flow.paths import LAMBDA_REFERENCE, REPO_ROOT, data_file

# simulator settings per condition: "none" removes every source of speed variation
CONDITIONS = {
    "strong": ["--read-speed-sd", "0.35", "--drift-sd", "0.35", "--stall-prob", "0.05"],
    "none": ["--read-speed-sd", "0", "--drift-sd", "0", "--stall-prob", "0"],
}
MODELS = ("heron_dp", "heron_strided")
CHUNK = 3000
TRAIN_READS, EVAL_READS = 300, 30


def _once(done: Path, argv: list[str]) -> None:
    if not done.exists():
        rubicon(argv)


def prepare(runs: Path, condition: str) -> tuple[Path, Path]:
    """Training chunks (random genome) and evaluation reads (lambda) of one condition."""
    sim = CONDITIONS[condition]
    train_sim, train_chunks, eval_sim = runs / f"sim_{condition}", runs / f"chunks_{condition}", runs / f"eval_{condition}"
    _once(train_sim / "truth.hdf5", ["simulate", "--random-genome", "2000000", "-n", str(TRAIN_READS), "--seed", "71",
                                     *sim, "-o", str(train_sim)])
    _once(train_chunks / "chunks.npy", ["chunkify", str(train_sim / "truth.hdf5"), "--chunk-len", str(CHUNK),
                                        "-o", str(train_chunks)])
    _once(eval_sim / "truth.fasta", ["simulate", str(data_file(LAMBDA_REFERENCE)), "-n", str(EVAL_READS), "--seed", "72",
                                     *sim, "-o", str(eval_sim)])
    return train_chunks, eval_sim


def train(runs: Path, model: str, condition: str, seed: int, chunks: Path, steps: int, threads: int) -> Path:
    out = runs / f"{model}_{condition}_s{seed}"
    if not (out / "model.pt").exists():
        rubicon(["train", model, str(chunks), "-o", str(out), "--max-steps", str(steps), "--epochs", "100",
                 "--lr", "2e-3", "--warmup-steps", "100", "--checkpoint-every", "200", "--log-every", "50",
                 "--valid-chunks", "100", "--seed", str(seed), "--threads", str(threads)])
    return out / "model.pt"


def evaluate(model_pt: Path, eval_sim: Path, out: Path) -> list[float]:
    """Per-read accuracies of the model on the evaluation reads (Bonito's definition)."""
    calls, tsv = out.with_suffix(".fastq"), out.with_suffix(".tsv")
    if not tsv.exists():
        rubicon(["basecall", str(model_pt), str(eval_sim / "reads.pod5"), "-o", str(calls), "--chunk-len", str(CHUNK),
                 "--overlap", "600"])
        rubicon(["evaluate", str(calls), str(eval_sim / "truth.fasta"), "--tsv", str(tsv)])
    with tsv.open() as fh:
        return [float(row["accuracy"]) for row in csv.DictReader(fh, delimiter="\t")]


def pooling_factors(model_pt: Path, eval_sim: Path) -> list[dict]:
    """Per read: simulated samples per base and speed factor, and the model's mean samples per frame."""
    import torch

    from flow.data.chunks import unlabelled_chunks
    from flow.data.readers import load_reads
    from flow.nn.checkpoint import load_model

    model = load_model(str(model_pt))[0].eval()
    truth = {r["read_id"]: r for r in csv.DictReader((eval_sim / "reads.tsv").open(), delimiter="\t")}
    reads, _ = load_reads([eval_sim / "reads.pod5"])
    rows = []
    with torch.no_grad():
        for read in reads:
            chunks = unlabelled_chunks(read, CHUNK)  # whole chunks only: a zero-padded tail would bias the rate
            if not chunks:
                continue
            _, lengths = model.logits_and_lengths(torch.from_numpy(np.stack(chunks))[:, None, :].float())
            moves = (lengths - 2).clamp(min=1).double()  # a chunk's ⌊p_T⌋: frames the signal actually moved through
            info = truth[read.read_id]
            rows.append({"read_id": read.read_id, "samples_per_base": float(info["samples_per_base"]),
                         "speed_factor": float(info["speed_factor"]), "samples_per_frame": float(CHUNK / moves.mean())})
    return rows


def plot(rows_by_seed: dict[int, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for seed, rows in rows_by_seed.items():
        x = [r["samples_per_base"] for r in rows]
        y = [r["samples_per_frame"] for r in rows]
        fit = np.polyfit(x, y, 1)
        ax.scatter(x, y, s=18, alpha=0.8, label=f"heron_dp seed {seed} (slope {fit[0]:.2f})")
    ax.axhline(3.0, color="grey", ls="--", lw=1, label="stride-3 convolution")
    ax.set_xlabel("simulated samples per base of the read (slower →)")
    ax.set_ylabel("mean pooling factor (samples per frame)")
    ax.set_title("Dynamic pooling rate per read, strong speed variation")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, default=Path("runs/ablation"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report-only", action="store_true", help="only summarise the finished runs")
    args = ap.parse_args()
    args.runs.mkdir(parents=True, exist_ok=True)

    results, pooling = [], {}
    for condition in args.conditions:
        chunks, eval_sim = prepare(args.runs, condition)
        for model in args.models:
            for seed in args.seeds:
                run = args.runs / f"{model}_{condition}_s{seed}"
                if args.report_only and not (run / "model.pt").exists():
                    continue
                model_pt = train(args.runs, model, condition, seed, chunks, args.steps, args.threads)
                accs = evaluate(model_pt, eval_sim, run / "eval_calls")
                results.append({"model": model, "condition": condition, "seed": seed, "steps": args.steps,
                                "reads": len(accs), "median": _median(accs), "mean": float(np.mean(accs))})
                print(f"{model:<14}{condition:<8}seed {seed}: median {100 * results[-1]['median']:.2f}%")
                if model == "heron_dp" and condition == "strong":
                    pooling[seed] = pooling_factors(model_pt, eval_sim)
    write_report(results, pooling, args)


def write_report(results: list[dict], pooling: dict[int, list[dict]], args) -> None:
    out = REPO_ROOT / "reports" / "ablation"
    out.mkdir(parents=True, exist_ok=True)
    if pooling:
        plot(pooling, out / "pooling_vs_speed.png")
    (out / "dynamic_pool.json").write_text(json.dumps({"chunk_len": CHUNK, "train_reads": TRAIN_READS,
                                                       "eval_reads": EVAL_READS, "conditions": CONDITIONS,
                                                       "runs": results, "pooling": pooling}, indent=2) + "\n")
    lines = ["| model | speed variation | seeds | median accuracy per seed | mean of medians |", "|---|---|---|---|---|"]
    for condition in CONDITIONS:
        for model in MODELS:
            rows = [r for r in results if r["model"] == model and r["condition"] == condition]
            if rows:
                per_seed = ", ".join(f"{100 * r['median']:.2f}%" for r in rows)
                lines.append(f"| {model} | {condition} | {len(rows)} | {per_seed} | "
                             f"{100 * np.mean([r['median'] for r in rows]):.2f}% |")
    (out / "dynamic_pool.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"→ {out}")


if __name__ == "__main__":
    main()
