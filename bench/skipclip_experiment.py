"""SkipClip experiment (make skipclip): what removing the real-data teacher's skips costs in accuracy
and saves in hardware.

  (a) the teacher (float, swish, 5 skips)
  (b) the SkipClip student: the teacher's layout without skips, 8-bit, initialised from the
      teacher, skips cut one stack every --stride steps while distilling (rubicon skipclip)
  (c) the same skip-free 8-bit layout trained from scratch: same data, loss, steps (rubicon train)
  (d) the same 8-bit layout with its skips kept, distilled the same way (rubicon skipclip --keep-skips)

Data: runs/kd_real (teacher logits and calls of the unlabelled real reads) and runs/kd_sim
(simulated reads, true labels, teacher logits): `make distill-data`. Accuracy: bench/eval_shipped.py
(real labelled R9.4.1 reads, 20 simulated lambda reads held out from training). Hardware: (b) and (d)
built for --target at the same throughput target, so the shared layers fold alike, then LUT,
BRAM18, DSP and FIFO depth compared from the build reports. Every stage resumes; rerun to continue.

Usage: python bench/skipclip_experiment.py [--runs runs] [--epochs 1] [--stride 100]
                                           [--target u250] [--samples-per-s 2.048e6]
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

from flow.cli import main as rubicon
from flow.errors import FlowError, run_script
from flow.paths import REPO_ROOT

STUDENT = "models/skipclip_sbonito.yaml"
ARMS = {"b": "SkipClip student (skips cut while distilling)", "c": "same layout, from scratch",
        "d": "same layout, skips kept, distilled"}


def _run(args: list) -> None:
    code = rubicon([str(a) for a in args])
    if code:
        raise FlowError(f"`rubicon {' '.join(map(str, args))}` exited with {code}")


def train_arms(runs: Path, recipe: list, stride: str) -> dict[str, Path]:
    """(b), (c), (d) with one recipe; (c) has no skips to cut, so no stride."""
    data = [runs / "kd_real", runs / "kd_sim"]
    for d in data:
        if not (d / "teacher_logits.npy").exists():
            raise FlowError(f"{d} has no teacher logits: run `make distill-data` first")
    out = {arm: runs / f"skipclip_{arm}" for arm in ARMS}
    commands = {"b": ["skipclip", "teacher_sbonito", *data, "-o", out["b"], *recipe, "--stride", stride],
                "c": ["train", STUDENT, *data, "-o", out["c"], *recipe, "--kd-alpha", "0.9", "--kd-temperature", "2.0",
                      "--lr", "5e-4", "--warmup-steps", "50"],
                "d": ["skipclip", "teacher_sbonito", *data, "-o", out["d"], "--keep-skips", *recipe, "--stride", stride]}
    for arm, command in commands.items():
        if not (out[arm] / "model.pt").exists():
            print(f"--- ({arm}) {ARMS[arm]}", flush=True)
            _run(command)
    return {arm: out[arm] / "model.pt" for arm in ARMS}


def accuracy(model, name: str, runs: Path, exact: bool) -> dict:
    report = REPO_ROOT / "reports" / "accuracy" / f"{name}.json"
    if not report.exists():
        subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "eval_shipped.py"), "--model", str(model), "--name", name,
                        "--runs", str(runs), *([] if exact else ["--float-only"])], check=True)
    results = json.loads(report.read_text())["results"]
    path = "exact" if exact else "float"
    return {k: {"median": v[path]["median"], "mean": v[path]["mean"], "path": path} for k, v in results.items()}


def hardware(model: Path, arm: str, target: str, samples_per_s: float, build: Path, chunk_len: int) -> dict:
    """Build one arm; the short chunk keeps the 26-layer design's C-sim and cycle sim quick (the folding
    for a samples/s target, the node resources and the skip FIFOs do not depend on it)."""
    out = build / f"skipclip_{arm}"
    if not (out / "report.json").exists():
        try:
            _run(["build", "--model", model, "--target", target, "--samples-per-s", samples_per_s, "-o", out,
                  "--chunk-len", chunk_len, "--chunks", 4])
        except FlowError as exc:
            if not (out / "folded.onnx").exists():
                raise
            return fold_stage_estimate(out, target, str(exc))
    report = json.loads((out / "report.json").read_text())
    nodes = [n["op_type"] for n in report["nodes"]]
    return {**{k: report["estimate"]["totals"][k] for k in ("lut", "ff", "bram18", "dsp")},
            "fifo_depth": sum(f["depth"] for f in report["fifos"]),
            "fifo_bits": sum(f["depth"] * f["width_bits"] for f in report["fifos"]),
            "nodes": len(nodes), "fork_join_nodes": sum(op in ("DuplicateStreams", "AddStreams") for op in nodes),
            "effective_samples_per_s": report["throughput"]["effective_samples_per_s"],
            "csim_bit_exact": report["csim"].get("bit_exact"), "cyclesim_bit_exact": report["cyclesim"].get("bit_exact")}


def fold_stage_estimate(out: Path, target: str, error: str) -> dict:
    """The build's own estimate of its folded graph (nodes only: no FIFOs), when a later stage failed."""
    from qonnx.core.modelwrapper import ModelWrapper

    from flow.hw.estimate import estimate_graph, total

    folded = ModelWrapper(str(out / "folded.onnx"))
    totals = total(estimate_graph(folded, target=target).values()).as_dict()
    nodes = [n.op_type for n in folded.graph.node]
    return {**{k: totals[k] for k in ("lut", "ff", "bram18", "dsp")}, "fifo_depth": None, "fifo_bits": None,
            "nodes": len(nodes), "fork_join_nodes": sum(op in ("DuplicateStreams", "AddStreams") for op in nodes),
            "effective_samples_per_s": None, "csim_bit_exact": None, "cyclesim_bit_exact": None,
            "failed": error.splitlines()[0][:300]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--build", type=Path, default=Path("build"))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--stride", default="100")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--target", default="u250")
    ap.add_argument("--samples-per-s", type=float, default=2.048e6)
    ap.add_argument("--chunk-len", type=int, default=1200, help="samples per chunk of the builds (default 1200)")
    args = ap.parse_args()
    recipe = ["--epochs", args.epochs, "--seed", args.seed, "--checkpoint-every", 50, "--log-every", 10]
    models = train_arms(args.runs, recipe, args.stride)
    rows = {"a": {"what": "teacher (float, swish, skips)", "accuracy": accuracy("teacher_sbonito", "teacher_sbonito", args.runs, False)}}
    for arm, model in models.items():
        rows[arm] = {"what": ARMS[arm], "accuracy": accuracy(model, f"skipclip_{arm}", args.runs, arm in "bd")}
    for arm in "bd":
        rows[arm]["hardware"] = hardware(models[arm], arm, args.target, args.samples_per_s, args.build, args.chunk_len)
    out = REPO_ROOT / "reports" / "skipclip"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"recipe": [str(a) for a in recipe], "stride": args.stride, "target": args.target,
                                                  "samples_per_s": args.samples_per_s, "rows": rows}, indent=2) + "\n")
    (out / "results.md").write_text(table(rows, args.target))
    plot(rows, out / "skipclip.png")
    print((out / "results.md").read_text())


def table(rows: dict, target: str) -> str:
    sets = list(rows["a"]["accuracy"])
    lines = ["| arm | model | " + " | ".join(f"{s} (median)" for s in sets) + " |", "|---|---|" + "---|" * len(sets)]
    for arm, row in rows.items():
        acc = row["accuracy"]
        lines.append(f"| ({arm}) | {row['what']} | " + " | ".join(f"{100 * acc[s]['median']:.1f}% ({acc[s]['path']})" for s in sets) + " |")
    hw = {arm: rows[arm]["hardware"] for arm in "bd"}
    lines += ["", f"Builds for {target} at the same throughput target (estimates; C-sim and cycle sim bit-exact):", "",
              "| | LUT | FF | BRAM18 | DSP | FIFO depth | FIFO bits | fork/join nodes | effective samples/s |",
              "|---|---|---|---|---|---|---|---|---|"]
    fmt = lambda v: "n/a" if v is None else f"{v:,}"  # noqa: E731
    for arm, h in hw.items():
        speed = "build failed: " + h["failed"][:60] if h.get("failed") else f"{h['effective_samples_per_s'] / 1e6:.2f} M"
        lines.append(f"| ({arm}) | {h['lut']:,} | {h['ff']:,} | {h['bram18']:,} | {h['dsp']:,} | {fmt(h['fifo_depth'])} | "
                     f"{fmt(h['fifo_bits'])} | {h['fork_join_nodes']} | {speed} |")
    saved = {k: None if hw["d"][k] is None else hw["d"][k] - hw["b"][k]
             for k in ("lut", "ff", "bram18", "dsp", "fifo_depth", "fifo_bits")}
    lines.append("| saved by cutting the skips (nodes; FIFOs where both built) | " + " | ".join(fmt(saved[k]) for k in saved)
                 + f" | {hw['d']['fork_join_nodes'] - hw['b']['fork_join_nodes']} | |")
    return "\n".join(lines) + "\n"


def plot(rows: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(rows["a"]["accuracy"])
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(rows)
    for i, (arm, row) in enumerate(rows.items()):
        ax.bar([j + i * width for j in range(len(sets))], [100 * row["accuracy"][s]["median"] for s in sets], width,
               label=f"({arm}) {row['what']}")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(sets))], [s.replace(" (", "\n(") for s in sets], fontsize=8)
    ax.set_ylabel("median read accuracy (%)"), ax.set_ylim(50, 100), ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("SkipClip: teacher, skip-free student, from scratch, skips kept")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    run_script(main, "skipclip_experiment.py")
