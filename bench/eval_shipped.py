"""Accuracy of a shipped model: 20 simulated lambda reads (default simulator settings) and the
real labelled R9.4.1 reads in shared data. Prints a table and writes it as JSON.

Usage: python bench/eval_shipped.py [--model rubicall_s | path.pt] [--name NAME] [--runs runs] [--reads 20] [--seed 2026]
"""
import argparse
import json
from pathlib import Path

from flow.cli import main as rubicon
from flow.paths import FAST5_DIR, FAST5_REFERENCES, LAMBDA_REFERENCE, MAPPED_SIGNAL_SAMPLE, REPO_ROOT, data_file


def evaluate(model: str, inputs: list, reference, out: Path) -> dict:
    calls = out.with_suffix(".fastq")
    rubicon(["basecall", model, *map(str, inputs), "-o", str(calls)])
    rubicon(["evaluate", str(calls), str(reference), "--tsv", str(out.with_suffix(".tsv"))])
    accs = [float(line.split("\t")[3]) for line in out.with_suffix(".tsv").read_text().splitlines()[1:]]
    accs.sort()
    n = len(accs)
    median = accs[n // 2] if n % 2 else (accs[n // 2 - 1] + accs[n // 2]) / 2
    return {"reads": n, "mean": sum(accs) / n, "median": median}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="rubicall_s", help="shipped model name or .pt file")
    ap.add_argument("--name", help="name of the result (default: the model's file stem)")
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--reads", type=int, default=20)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    name = args.name or Path(args.model).stem
    out = args.runs / f"eval_{name}"
    out.mkdir(parents=True, exist_ok=True)
    sim = out / "sim_lambda"
    if not sim.exists():
        rubicon(["simulate", str(data_file(LAMBDA_REFERENCE)), "-n", str(args.reads), "--seed", str(args.seed), "-o", str(sim)])
    fast5 = data_file(FAST5_DIR)
    results = {
        "simulated lambda (truth.fasta)": evaluate(args.model, [sim / "reads.pod5"], sim / "truth.fasta", out / "sim_lambda_calls"),
        "real R9.4.1 mapped-signal sample": evaluate(args.model, [data_file(MAPPED_SIGNAL_SAMPLE)], data_file(MAPPED_SIGNAL_SAMPLE), out / "mapped_calls"),
        "real R9.4.1 FAST5 with per-read references": evaluate(
            args.model, [fast5 / f"{rid}.fast5" for rid in _ids(data_file(FAST5_REFERENCES))], data_file(FAST5_REFERENCES), out / "fast5_calls"),
    }
    print(f"\n{'data set':<46}{'reads':>6}{'mean':>9}{'median':>9}")
    for data_set, r in results.items():
        print(f"{data_set:<46}{r['reads']:>6}{100 * r['mean']:>8.2f}%{100 * r['median']:>8.2f}%")
    report = REPO_ROOT / "reports" / "accuracy" / f"{name}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"model": name, "seed": args.seed, "results": results}, indent=2) + "\n")
    print(f"→ {report}")


def _ids(fasta: Path) -> list[str]:
    return [line[1:].split()[0] for line in fasta.read_text().splitlines() if line.startswith(">")]


if __name__ == "__main__":
    main()
