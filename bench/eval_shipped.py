"""Accuracy of the shipped board models, float32 and exact: 20 simulated lambda reads (default
simulator settings) and the real labelled R9.4.1 reads in shared data, each basecalled twice —
by the float32 Brevitas model (`rubicon basecall`) and by the integer dataflow graph that
becomes hardware (`rubicon basecall --exact`, lowered once at 4,200 samples per chunk as a build
does). The exact figure is the accelerator's accuracy (DESIGN §4.4). Prints a table and writes
reports/accuracy/<name>.json.

Usage: python bench/eval_shipped.py [--model rubicall_pynq heron_dp rubicall_s | path.pt]
                                    [--name NAME] [--runs runs] [--reads 20] [--seed 2026]
"""
import argparse
import json
from pathlib import Path

from flow.cli import main as rubicon
from flow.data.fastx import read_fastq
from flow.errors import FlowError, run_script
from flow.ir.basecall import dataflow_graph
from flow.paths import FAST5_DIR, FAST5_REFERENCES, LAMBDA_REFERENCE, MAPPED_SIGNAL_SAMPLE, REPO_ROOT, data_file

BOARD_MODELS = ("rubicall_pynq", "heron_dp", "rubicall_s")  # PYNQ-Z2, ZCU104 (dynamic pooling), U250
CHUNK_LEN = 4200


def _run(args: list) -> None:
    code = rubicon([str(a) for a in args])
    if code:
        raise FlowError(f"`rubicon {' '.join(map(str, args))}` exited with {code}")


def summary(tsv: Path) -> dict:
    accs = sorted(float(line.split("\t")[3]) for line in tsv.read_text().splitlines()[1:])
    n = len(accs)
    median = accs[n // 2] if n % 2 else (accs[n // 2 - 1] + accs[n // 2]) / 2
    return {"reads": n, "mean": sum(accs) / n, "median": median}


def evaluate(model_args: dict, inputs: list, reference, out: Path) -> dict:
    """Basecall `inputs` on each path of `model_args` and score each against `reference`."""
    result, calls = {}, {}
    for path in model_args:
        fastq = out.with_name(f"{out.name}_{path}.fastq")
        _run(["basecall", *model_args[path], *inputs, "-o", fastq])
        _run(["evaluate", fastq, reference, "--tsv", fastq.with_suffix(".tsv")])
        result[path] = summary(fastq.with_suffix(".tsv"))
        calls[path] = {k: seq for k, (seq, _) in read_fastq(fastq).items()}
    reads = result["float"]["reads"]
    summary_ = {"reads": reads, **{p: {"mean": result[p]["mean"], "median": result[p]["median"]} for p in model_args}}
    if "exact" in calls:
        summary_["identical_calls"] = sum(calls["float"][k] == calls["exact"].get(k) for k in calls["float"])
    return summary_


def evaluate_model(model: str, name: str, runs: Path, sim: Path, exact: bool = True, beam: int = 0) -> dict:
    """Every data set on the float path and, with `exact`, on the integer dataflow graph too.
    `beam`: the float path decodes with a beam this wide (`rubicon basecall --beam`), not greedily."""
    if beam and exact:  # the exact path decodes greedily: its calls would be compared with beam calls
        raise FlowError(f"{name}: a beam decodes the float path only; evaluate with exact=False")
    out = runs / f"eval_{name}"
    out.mkdir(parents=True, exist_ok=True)
    model_args = {"float": [model, "--chunk-len", CHUNK_LEN, *(["--beam", beam] if beam else [])]}
    if exact:
        graph, _ = dataflow_graph(model, CHUNK_LEN)  # lowered once, basecalled as a build directory
        (out / "exact").mkdir(exist_ok=True)
        graph.save(str(out / "exact" / "dataflow.onnx"))
        model_args["exact"] = ["--exact", out / "exact"]
    fast5 = data_file(FAST5_DIR)
    return {
        "simulated lambda (truth.fasta)": evaluate(model_args, [sim / "reads.pod5"], sim / "truth.fasta", out / "sim_lambda"),
        "real R9.4.1 mapped-signal sample": evaluate(model_args, [data_file(MAPPED_SIGNAL_SAMPLE)],
                                                     data_file(MAPPED_SIGNAL_SAMPLE), out / "mapped"),
        "real R9.4.1 FAST5 with per-read references": evaluate(
            model_args, [fast5 / f"{rid}.fast5" for rid in _ids(data_file(FAST5_REFERENCES))], data_file(FAST5_REFERENCES),
            out / "fast5"),
    }


def print_table(name: str, results: dict) -> None:
    print(f"\n{name}: accuracy mean / median, float32 model vs exact integer graph")
    print(f"{'data set':<46}{'reads':>6}{'float mean':>12}{'median':>9}{'exact mean':>12}{'median':>9}{'same calls':>12}")
    for data_set, r in results.items():
        f, e = r["float"], r.get("exact")
        exact = (f"{100 * e['mean']:>11.2f}%{100 * e['median']:>8.2f}%{r['identical_calls']:>8} of {r['reads']}"
                 if e else f"{'(float only)':>21}")
        print(f"{data_set:<46}{r['reads']:>6}{100 * f['mean']:>11.2f}%{100 * f['median']:>8.2f}%{exact}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", nargs="+", default=list(BOARD_MODELS), help="shipped model names or .pt files (default: every board model)")
    ap.add_argument("--name", help="name of the result (one model only; default: the model's file stem)")
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--reads", type=int, default=20)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--float-only", action="store_true", help="skip the exact path (float teachers cannot be lowered)")
    args = ap.parse_args()
    if args.name and len(args.model) > 1:
        ap.error("--name names the result of one model")
    sim = args.runs / f"eval_sim_lambda_{args.reads}_{args.seed}"
    if not (sim / "truth.fasta").exists():
        _run(["simulate", data_file(LAMBDA_REFERENCE), "-n", args.reads, "--seed", args.seed, "-o", sim])
    for model in args.model:
        name = args.name or Path(model).stem
        results = evaluate_model(model, name, args.runs, sim, exact=not args.float_only)
        print_table(name, results)
        report = REPO_ROOT / "reports" / "accuracy" / f"{name}.json"
        report.parent.mkdir(parents=True, exist_ok=True)
        paths = {"float": "float32 Brevitas model (rubicon basecall)",
                 "exact": "integer dataflow graph, what the accelerator computes (rubicon basecall --exact)"}
        report.write_text(json.dumps({"model": name, "seed": args.seed, "chunk_len": CHUNK_LEN,
                                      "paths": {k: v for k, v in paths.items() if k == "float" or not args.float_only},
                                      "results": results}, indent=2) + "\n")
        print(f"→ {report}")


def _ids(fasta: Path) -> list[str]:
    return [line[1:].split()[0] for line in fasta.read_text().splitlines() if line.startswith(">")]


if __name__ == "__main__":
    run_script(main, "eval_shipped.py")
