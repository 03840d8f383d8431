"""The QABAS experiment (issue 14): what the search buys against a hand-designed board model.

Target pynq-z2, every resource ≤ 85% of the part, two throughput targets: MinION real time
(2.048 M effective samples/s) and 4× that. For each target: `rubicon search` on the default
space, the derived model YAML (the most probable architecture within the budget), and the
hand-designed reference (rubicall_pynq's layout) scaled uniformly to the same target
(`scaled_reference`: narrower, fewer bits, then fewer layers, until it fits). Every model is trained
with one recipe and one budget (`rubicon train` from scratch on
the same datasets, epochs and seed), built for pynq-z2 (`rubicon build` at the target's chunks/s:
C-sim and cycle sim bit-exact; a model that cannot reach the target within budget is built at the
fastest folding that fits, and the table says so), and evaluated on the real labelled reads and
held-out simulated lambda reads, float32 and exact (bench/eval_shipped.py). Writes
reports/qabas/qabas.json, qabas.md and qabas.png (the Pareto front of the searches with the
built points on it).

Every stage resumes: a search or training resumes from its checkpoint, a build from its manifest,
and finished evaluations are read back from runs/qabas/. `--only MODEL` searches (if searched) and
trains one model and stops, so the long stages can run side by side or on a GPU (`--device cuda`,
bench/gpu_session.py) and the rest resumes here from their files.

`--search-init reference` starts each search from its target's scaled reference, trained first:
the search then refines the hand design from inside the budget instead of pushing the over-budget
rubicall_pynq into it. `--targets minion` runs (and reports) one target.

Usage: python bench/qabas_experiment.py [--runs runs] [--datasets runs/kd_real runs/kd_sim]
           [--search-steps 1500] [--epochs 3] [--device cpu] [--only MODEL] [--targets minion]
           [--search-init MODEL|reference] [--tiny]
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_shipped import evaluate_model  # noqa: E402

from flow.cli import main as rubicon  # noqa: E402
from flow.data.chunks import new_samples  # noqa: E402
from flow.errors import FlowError, run_script  # noqa: E402
from flow.nn.config import load_model_spec  # noqa: E402
from flow.paths import LAMBDA_REFERENCE, MODELS_DIR, REPO_ROOT, data_file  # noqa: E402
from flow.report.schema import MINION_SAMPLES_PER_S  # noqa: E402
from flow.search.derive import describe, plot_pareto, write_model_yaml  # noqa: E402
from flow.search.search import ANCHORS, BIT_GATES, SearchConfig, init_identity  # noqa: E402

TARGET = "pynq-z2"
HEADROOM = 0.15
CHUNK_LEN = 4200
RATES = {"minion": MINION_SAMPLES_PER_S, "minion4x": 4 * MINION_SAMPLES_PER_S}
REFERENCE = "rubicall_pynq"
SPACE = MODELS_DIR / "search" / "pynq_default.yaml"
SEARCH_DEFAULTS = vars(SearchConfig())  # what an older search.json without a field ran with
NAMES = [f"ref_scaled_{tag}" for tag in RATES] + [f"qabas_{tag}" for tag in RATES]
SCALED = "reference"  # --search-init: start each search from its target's trained scaled reference
# the fine-tuning rate of a warm-started training (--train-init), as `make distill` continues a trained model
FINETUNE = ["--lr", "5e-4", "--warmup-steps", "50"]
# the uniform steps a designer takes to shrink the reference, in order: every layer at once
SCALING = [("channels", None), ("weight_bits", 3), ("act_bits", 3), ("weight_bits", 2), ("act_bits", 2)]


def target_of(name: str) -> str:
    """The throughput target (a key of RATES) a model of NAMES is made for."""
    return name.split("_")[-1]


def _run(*args) -> int:
    print("$ rubicon " + " ".join(map(str, args)), flush=True)
    return rubicon([str(a) for a in args])


def _must(*args) -> None:
    if _run(*args):
        raise FlowError(f"`rubicon {' '.join(map(str, args))}` failed")


def _check_finished_search(out: Path, ran: dict, args, init: str) -> None:
    """A finished search (`ran`: its config) is reused only if it ran with these settings (the report
    records the arguments)."""
    wanted = {"seed": args.seed, "gate": args.gate, "floor": args.floor, "anchor": args.anchor,
              "inplace_kd": args.inplace_kd, "init": init_identity(init or None)}
    ran = ran | {"init": init_identity(ran.get("init"))}
    differ = {k: (ran.get(k, SEARCH_DEFAULTS[k]), v) for k, v in wanted.items() if ran.get(k, SEARCH_DEFAULTS[k]) != v}
    if differ:
        raise FlowError(f"{out} was searched with {', '.join(f'{k}={a!r}' for k, (a, _) in differ.items())}, not "
                        f"{', '.join(f'{k}={b!r}' for k, (_, b) in differ.items())}; give another --runs")


def search(tag: str, rate: float, args, root: Path, init: str) -> dict:
    """`init`: the model whose weights and choices start the supernet ('' for random)."""
    out = root / f"search_{tag}"
    finished = json.loads((out / "search.json").read_text()) if (out / "search.json").exists() else None
    if finished:
        if finished.get("bit_gates") != BIT_GATES:
            raise FlowError(f"{out} was searched before the bit-width mixtures (flow.search.supernet.bit_mixture); "
                            "give another --runs")
        _check_finished_search(out, finished["config"], args, init)
    if not finished or finished["steps"] < args.search_steps:
        _must("search", args.space, *args.datasets, "-o", out, "--target", TARGET, "--samples-per-s", rate,
              "--headroom", HEADROOM, "--steps", args.search_steps, "--seed", args.seed, "--threads", args.threads,
              "--warmup-steps", max(1, args.search_steps // 5), "--device", args.device,
              *(["--init", init] if init else []), "--gate" if args.gate else "--no-gate",
              "--anchor", args.anchor, "--inplace-kd", args.inplace_kd, "--floor", args.floor,
              *args.search_options)
    return json.loads((out / "search.json").read_text())


def scaled_reference(tag: str, rate: float, args, root: Path) -> Path:
    """The hand-designed reference scaled to the target as a designer would, uniformly: every
    layer to the narrowest width of its slot, then weight and activation bits one step down
    everywhere (not below 3, then not below 2), then layers dropped from the middle, until the
    build's estimate (the search's cost model) fits the budget at the throughput target."""
    from flow.search.derive import derived_spec
    from flow.search.hwcost import CostModel
    from flow.search.space import IDENTITY, load_space
    from flow.search.warmstart import model_choices

    space = load_space(args.space)
    costs = CostModel(space, TARGET, chunk_len=CHUNK_LEN, samples_per_s=rate, headroom=HEADROOM)
    choices = model_choices(space, load_model_spec(str(MODELS_DIR / f"{REFERENCE}.yaml")))

    def fits():
        return costs.excess(costs.network(costs.one_hot(choices), choices)) <= 0

    def steps():  # yields after every change (first: as designed)
        yield
        for factor, floor in SCALING:
            for slot, c in zip(space.slots, choices):
                values = slot.factors[factor]
                if floor is None:  # the narrowest
                    c[factor] = values.index(min(values))
                    continue
                lower = [j for j, v in enumerate(values) if floor <= v < values[c[factor]]]  # one step down
                if lower:
                    c[factor] = max(lower, key=lambda j: values[j])
            yield
        live = [i for i, (slot, c) in enumerate(zip(space.slots, choices)) if slot.ops[c["op"]] != IDENTITY]
        while live:
            i = live.pop(len(live) // 2)
            choices[i]["op"] = space.slots[i].ops.index(IDENTITY)
            yield

    if not any(fits() for _ in steps()):  # stops at the first step that fits
        raise FlowError(f"{REFERENCE} cannot be scaled to fit {TARGET} at {rate:,.0f} samples/s")
    name = f"ref_scaled_{tag}"
    spec = derived_spec(space, choices, name)
    spec.description = f"{REFERENCE} scaled uniformly to {TARGET} at {rate / 1e6:.3f} M samples/s"
    cost = costs.summary(costs.network(costs.one_hot(choices), choices))
    path = root / f"{name}.yaml"
    write_model_yaml(spec, path, f"{name}: {REFERENCE} scaled uniformly to {TARGET} at {rate:,.0f} samples/s "
                                 f"(bench/qabas_experiment.py); estimate LUT {cost['lut']:,.0f}")
    return path


def model_yaml(name: str, source: Path, root: Path) -> Path:
    """The model as its own YAML under runs/qabas (renamed, so trainings and builds are told apart)."""
    spec = load_model_spec(str(source))
    spec.name = name
    path = root / f"{name}.yaml"
    write_model_yaml(spec, path, f"{name}: {describe(spec)} (from {source})")
    return path


def trained_model(name: str, args, root: Path) -> Path:
    """Where `train` leaves the model `name` (a warm-started training has its own folder)."""
    return root / (f"train_{name}_from_{Path(args.train_init).stem}" if args.train_init else f"train_{name}") / "model.pt"


def train(name: str, yaml_path: Path, args, root: Path) -> Path:
    # a finished model.pt is reused without looking inside
    final = trained_model(name, args, root)
    out = final.parent
    if not final.exists():
        _must("train", yaml_path, *args.datasets, "-o", out, "--epochs", args.epochs, "--seed", args.seed,
              "--threads", args.threads, "--device", args.device, *args.train_options)
    return final


def build(name: str, model: Path, tag: str, rate: float, args, root: Path) -> dict:
    """Build at the target's chunks/s; if that does not fit, at the fastest folding that fits."""
    stride = load_model_spec(str(root / f"{name}.yaml")).stride
    fps = rate / new_samples(CHUNK_LEN, stride)
    for mode, speed in (("target", ["--fps", fps]), ("fit", [])):
        out = root / (f"build_{name}_{tag}" if mode == "target" else f"build_{name}_fit")  # fit: any target's
        if not (out / "report.json").exists():
            if _run("build", "--model", model, "--target", TARGET, "-o", out, "--headroom", HEADROOM,
                    "--chunks", args.build_chunks, *speed):
                shutil.rmtree(out, ignore_errors=True)
                continue
        report = json.loads((out / "report.json").read_text())
        t, est = report["throughput"], report["estimate"]["calibrated_totals"]
        return {"build": str(out), "mode": mode, "meets_target": t["effective_samples_per_s"] >= rate * 0.999,
                "lut": est["lut"], "bram18": est["bram18"], "dsp": est["dsp"],
                "effective_samples_per_s": t["effective_samples_per_s"], "minion_fraction": t["minion_fraction"],
                "csim_bit_exact": report.get("csim", {}).get("bit_exact"),
                "cyclesim_bit_exact": report.get("cyclesim", {}).get("bit_exact")}
    return {"build": None, "mode": "none", "meets_target": False}


def simulated_reads(root: Path, args) -> Path:
    """The folder of the held-out simulated lambda reads every model is scored on (simulated once)."""
    sim = root / f"eval_sim_lambda_{args.reads}_{args.eval_seed}"
    if not (sim / "truth.fasta").exists():
        _must("simulate", data_file(LAMBDA_REFERENCE), "-n", args.reads, "--seed", args.eval_seed, "-o", sim)
    return sim


def evaluate(name: str, model: Path, args, root: Path) -> dict:
    cached = root / f"eval_{name}.json"
    if not cached.exists():
        sim = simulated_reads(root, args)
        cached.write_text(json.dumps(evaluate_model(str(model), name, root, sim), indent=1))
    return summarise(json.loads(cached.read_text()))


def summarise(results: dict) -> dict:
    """evaluate_model's results as the mean accuracy over every real read and every simulated read,
    on the float path and (where evaluated) the exact one."""
    real = [results["real R9.4.1 mapped-signal sample"], results["real R9.4.1 FAST5 with per-read references"]]
    simulated = results["simulated lambda (truth.fasta)"]

    def mean_over(sets, path):  # the mean over every read of the sets
        return sum(s[path]["mean"] * s["reads"] for s in sets) / sum(s["reads"] for s in sets)

    paths = {"": "exact", "_float": "float"} if "exact" in simulated else {"_float": "float"}
    return {"real_reads": sum(s["reads"] for s in real), "sim_reads": simulated["reads"],
            **{f"real_accuracy{key}": mean_over(real, path) for key, path in paths.items()},
            **{f"sim_accuracy{key}": mean_over([simulated], path) for key, path in paths.items()}}


def table(rows: list[dict]) -> str:
    lines = ["| model | target | architecture | real acc. (exact, mean) | sim acc. (exact, mean) | LUT | BRAM18 | DSP | "
             "effective M samples/s | meets target | built at |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b = r["build"]
        res = [f"{b[k]:,.0f}" if b.get(k) is not None else "–" for k in ("lut", "bram18", "dsp")]
        rate = f"{b['effective_samples_per_s'] / 1e6:.2f}" if b.get("effective_samples_per_s") else "–"
        lines.append(f"| {r['name']} | {r['tag']} | {r['architecture']} | {100 * r['real_accuracy']:.2f}% | "
                     f"{100 * r['sim_accuracy']:.2f}% | {' | '.join(res)} | {rate} | "
                     f"{'yes' if b['meets_target'] else 'no'} | {b['mode']} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--datasets", type=Path, nargs="+", default=[Path("runs/kd_real"), Path("runs/kd_sim")],
                    help="training chunks: simulated labels and the real-data teacher's calls (make distill-data)")
    ap.add_argument("--space", type=Path, default=SPACE)
    ap.add_argument("--search-steps", type=int, default=1500)
    ap.add_argument("--search-init", default=REFERENCE, help="trained model whose weights start the supernet "
                    "(`rubicon search --init`; '' for random: the supernet then starts on the CTC blank plateau; "
                    f"'{SCALED}': each target's scaled reference, trained first with the common recipe, so the search "
                    "starts inside the budget from a model that reads)")
    ap.add_argument("--gate", action=argparse.BooleanOptionalAction, default=True,
                    help="the hardware penalty acts only while the argmax is over budget (rubicon search --gate)")
    ap.add_argument("--anchor", default="none", choices=ANCHORS,
                    help="the architecture every weight step also trains (rubicon search --anchor)")
    ap.add_argument("--floor", type=float, default=0.0,
                    help="with --gate: an argmax below this share of every area budget is pushed dearer (rubicon search --floor)")
    ap.add_argument("--inplace-kd", type=float, default=0.0,
                    help="with --anchor: the sampled path's KL to the anchor's frames (rubicon search --inplace-kd)")
    ap.add_argument("--epochs", type=int, default=3, help="training epochs of every model (same recipe for all)")
    ap.add_argument("--train-init", metavar="MODEL", default="",
                    help="every model (searched and reference alike) starts from MODEL's weights sliced to its shape "
                         "(`rubicon train --init MODEL --init-slice`) and fine-tunes at make distill's rate "
                         f"(lr {FINETUNE[1]}, warm-up {FINETUNE[3]} steps); default: from scratch")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--build-chunks", type=int, default=8)
    ap.add_argument("--reads", type=int, default=20, help="simulated lambda reads for the held-out accuracy")
    ap.add_argument("--eval-seed", type=int, default=2026)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where searches and trainings run")
    ap.add_argument("--only", choices=NAMES, help="search (if searched) and train this model only, then stop")
    ap.add_argument("--targets", nargs="+", choices=list(RATES), default=list(RATES),
                    help="throughput targets to run, the report covering those (default: all)")
    ap.add_argument("--report", type=Path, help="default reports/qabas (with --tiny: RUNS/qabas_tiny/report)")
    ap.add_argument("--tiny", action="store_true", help="a few steps of everything: checks the pipeline, not the result")
    args = ap.parse_args()
    args.search_options, args.train_options = [], []
    if args.tiny:
        args.search_steps, args.epochs, args.build_chunks, args.reads = 4, 1, 4, 2
        args.search_options = ["--warmup-steps", 2, "--batch-size", 4, "--eval-every", 2, "--eval-chunks", 4]
        args.train_options = ["--max-steps", 2, "--batch-size", 4, "--valid-chunks", 8]
    if args.train_init:
        args.train_options += ["--init", args.train_init, "--init-slice", *FINETUNE]
    if args.only and target_of(args.only) not in args.targets:
        raise FlowError(f"--only {args.only} is not among --targets {' '.join(args.targets)}")
    if set(args.targets) != set(RATES) and not args.report and not args.tiny:
        raise FlowError(f"--targets {' '.join(args.targets)} reports part of the experiment: give --report DIR, so "
                        "the full report in reports/qabas is not overwritten")
    root = args.runs / ("qabas_tiny" if args.tiny else "qabas")
    args.report = args.report or (root / "report" if args.tiny else REPO_ROOT / "reports" / "qabas")
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows, searches = [], {}
    models = {}
    for name in [args.only] if args.only else [n for n in NAMES if target_of(n) in args.targets]:
        tag = target_of(name)
        if name.startswith("ref_"):
            models[name] = (scaled_reference(tag, RATES[tag], args, root), tag)
            continue
        init = args.search_init
        if init == SCALED:
            reference = f"ref_scaled_{tag}"
            if args.only and not trained_model(reference, args, root).exists():
                raise FlowError(f"--only {name} --search-init {SCALED} starts from the trained {reference}: "
                                f"run --only {reference} first (two --only runs must not train it at once)")
            path = models[reference][0] if reference in models else scaled_reference(tag, RATES[tag], args, root)
            init = str(train(reference, path, args, root))
        searches[tag] = search(tag, RATES[tag], args, root, init)
        source = root / f"search_{tag}" / "derived.yaml"  # beside search.json, wherever the search ran
        models[name] = (model_yaml(name, source, root), tag)
    trained = {name: train(name, path, args, root) for name, (path, _) in models.items()}
    if args.only:
        print(f"{args.only}: trained → {trained[args.only]}")
        return
    for name, (path, own_tag) in models.items():
        accuracy = evaluate(name, trained[name], args, root)
        rows.append({"name": name, "tag": own_tag, "architecture": describe(load_model_spec(str(path))),
                     "search_estimate": searches[own_tag]["estimate"] if name.startswith("qabas_") else None,
                     **accuracy, "build": build(name, trained[name], own_tag, RATES[own_tag], args, root)})
    realtime = [r for r in rows if r["build"]["meets_target"] and r["name"].startswith("qabas_")
                and r["build"]["effective_samples_per_s"] >= MINION_SAMPLES_PER_S]
    best = max(realtime, key=lambda r: r["real_accuracy"], default=None)
    ship = (f"Best searched model at ≥ MinION real time: {best['name']} ({best['architecture']}), "
            f"{100 * best['real_accuracy']:.2f}% on the real reads; if that beats the hand-designed reference at its "
            f"target, ship it as models/qabas_pynq.yaml + .pt from {root / (best['name'] + '.yaml')} and "
            f"{trained[best['name']]}." if best else
            "No searched model met MinION real time in its build.")
    args.report.mkdir(parents=True, exist_ok=True)
    result = {"target": TARGET, "headroom": HEADROOM, "rates": {t: RATES[t] for t in args.targets}, "epochs": args.epochs,
              "search_steps": args.search_steps, "search_init": args.search_init, "gate": args.gate,
              "anchor": args.anchor, "inplace_kd": args.inplace_kd, "floor": args.floor,
              "train_init": args.train_init,
              "datasets": [str(d) for d in args.datasets], "tiny": args.tiny,
              "seconds": time.perf_counter() - started, "rows": rows, "best_realtime": best and best["name"],
              "searches": {t: {k: s[k] for k in ("architecture", "estimate", "search_seconds", "cycles_target")}
                           for t, s in searches.items()}}
    (args.report / "qabas.json").write_text(json.dumps(result, indent=1, default=str))
    (args.report / "qabas.md").write_text(f"# QABAS on {TARGET} (≤ {100 * (1 - HEADROOM):.0f}% of every resource)\n\n"
                                          + table(rows) + "\n\n" + ship + "\n")
    points = [p for tag in args.targets for p in json.loads((root / f"search_{tag}" / "pareto.json").read_text())["points"]]
    built = [{"label": f"{r['name']} @{r['tag']}", "accuracy": r["real_accuracy"],
              **{k: r["build"].get(k) or 0 for k in ("lut", "bram18", "dsp", "effective_samples_per_s")}} for r in rows]
    plot_pareto(points, args.report / "qabas.png", "QABAS on pynq-z2: searched (supernet accuracy) and built "
                "(real-read exact accuracy, crosses)", built)
    print(table(rows))
    print(ship)
    print(f"→ {args.report / 'qabas.md'} ({time.perf_counter() - started:,.0f} s)")


if __name__ == "__main__":
    run_script(main, "qabas_experiment.py")
