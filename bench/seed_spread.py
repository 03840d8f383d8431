"""How far a model's accuracy moves with the training seed alone, so that a gap between two models of
the QABAS experiment can be read against it.

Each model (a model YAML, or `reference:TAG` for rubicall_pynq scaled to the experiment's target TAG)
is trained once per seed with the experiment's recipe (bench/qabas_experiment.py: the same datasets,
epochs and warm start; only the seed differs) and evaluated on the integer graph that becomes
hardware: the real labelled reads and the held-out simulated lambda reads (greedy decoding, as the
experiment; with `--beam N` also the float model decoded with a beam of N, as `rubicon basecall --beam`).
Prints a table (each seed, the mean and the spread max − min) and writes JSON. Trainings and evaluations are kept under
RUNS/seed<N>/ and reused, so a run resumes and another model can be added later.

Usage: python bench/seed_spread.py reference:minion models/qabas_pynq.yaml [--seeds 1 2] [--beam 5]
           [--runs runs/spread] [--epochs 2] [--train-init rubicall_pynq] [--out reports/qabas/seed_spread.json]
"""
import argparse
import json
from pathlib import Path

import qabas_experiment as experiment
from eval_shipped import evaluate_model

from flow.errors import FlowError, run_script

GREEDY = ("real_accuracy", "sim_accuracy")  # exact: the integer graph
BEAM = ("real_accuracy_beam", "sim_accuracy_beam")  # float, --beam


def beam_accuracy(name: str, model: Path, args, root: Path) -> dict:
    """The float model decoded with a beam of args.beam, on the experiment's data sets (cached)."""
    cached = root / f"eval_{name}_beam{args.beam}.json"
    if not cached.exists():
        sim = experiment.simulated_reads(root, args)
        results = evaluate_model(str(model), f"{name}_beam{args.beam}", root, sim, exact=False, beam=args.beam)
        cached.write_text(json.dumps(results, indent=1))
    summary = experiment.summarise(json.loads(cached.read_text()))
    return {"real_accuracy_beam": summary["real_accuracy_float"], "sim_accuracy_beam": summary["sim_accuracy_float"]}


def reference_tag(model: str) -> str | None:
    """TAG of a `reference:TAG` argument; None for a model YAML."""
    return model.split(":", 1)[1] if model.startswith("reference:") else None


def check_model(model: str) -> None:
    """Refuse a model argument before anything is trained or written."""
    if reference_tag(model) is not None:
        if reference_tag(model) not in experiment.RATES:
            raise FlowError(f"{model}: the experiment's targets are {', '.join(experiment.RATES)}")
    elif not Path(model).is_file():
        raise FlowError(f"{model}: no such model YAML; give a YAML path or reference:TAG")


def check_recipe(args) -> None:
    """Trainings and scores under RUNS are reused by model name: one recipe per RUNS folder."""
    recipe = {"epochs": args.epochs, "train_init": args.train_init, "datasets": [str(d) for d in args.datasets],
              "reads": args.reads, "eval_seed": args.eval_seed}
    path = args.runs / "recipe.json"
    if path.exists() and json.loads(path.read_text()) != recipe:
        raise FlowError(f"{path}: {args.runs} holds trainings made with {path.read_text().strip()}, not {json.dumps(recipe)}; "
                        "give another --runs")
    args.runs.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(recipe))


def model_yaml(model: str, args, root: Path) -> Path:
    tag = reference_tag(model)
    return Path(model) if tag is None else experiment.scaled_reference(tag, experiment.RATES[tag], args, root)


def table(rows: list[dict], seeds: list[int], sets: tuple[str, ...]) -> str:
    label = {"real_accuracy": "real", "sim_accuracy": "sim", "real_accuracy_beam": "real beam",
             "sim_accuracy_beam": "sim beam"}
    lines = ["| model | " + " | ".join(f"{label[s]} seed {n}" for s in sets for n in seeds) + " | " +
             " | ".join(f"{label[s]} mean / spread" for s in sets) + " |", "|---" * ((len(seeds) + 1) * len(sets) + 1) + "|"]
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = {r["seed"]: r for r in rows if r["model"] == name}
        cells = [f"{100 * mine[n][s]:.1f}%" for s in sets for n in seeds]
        for s in sets:
            values = [mine[n][s] for n in seeds]
            cells.append(f"{100 * sum(values) / len(values):.1f}% / {100 * (max(values) - min(values)):.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="model YAMLs, or reference:TAG (TAG: minion, minion4x)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--runs", type=Path, default=Path("runs/spread"))
    ap.add_argument("--datasets", type=Path, nargs="+", default=[Path("runs/kd_real"), Path("runs/kd_sim")])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--train-init", metavar="MODEL", default="rubicall_pynq", help="'' trains from scratch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reads", type=int, default=20, help="simulated lambda reads held out")
    ap.add_argument("--eval-seed", type=int, default=2026)
    ap.add_argument("--beam", type=int, default=0, help="also decode the float model with this beam width")
    ap.add_argument("--out", type=Path, default=Path("reports/qabas/seed_spread.json"))
    args = ap.parse_args()
    args.space, args.device = experiment.SPACE, "cpu"
    args.train_options = ["--init", args.train_init, "--init-slice", *experiment.FINETUNE] if args.train_init else []
    for model in args.models:
        check_model(model)
    stems = [reference_tag(m) or Path(m).stem for m in args.models]
    if len(set(stems)) < len(stems):
        raise FlowError(f"{' '.join(args.models)}: two models share a file name; trainings and scores are kept by it")
    check_recipe(args)
    rows = []
    for model in args.models:
        for seed in args.seeds:
            run, root = argparse.Namespace(**vars(args), seed=seed), args.runs / f"seed{seed}"
            root.mkdir(parents=True, exist_ok=True)
            path = model_yaml(model, run, root)
            trained = experiment.train(path.stem, path, run, root)
            accuracy = experiment.evaluate(path.stem, trained, run, root)
            if args.beam:
                accuracy |= beam_accuracy(path.stem, trained, run, root)
            rows.append({"model": path.stem, "seed": seed, "model_pt": str(trained), **accuracy})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"epochs": args.epochs, "train_init": args.train_init, "seeds": args.seeds,
                                    "beam": args.beam, "rows": rows}, indent=1))
    print(table(rows, args.seeds, GREEDY + (BEAM if args.beam else ())))
    print(f"→ {args.out}")


if __name__ == "__main__":
    run_script(main, "seed_spread.py")
