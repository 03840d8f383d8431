"""One lent GPU session's long training, sized to end inside a time budget (issues 14 and 15).

A GPU is lent to some sessions for a few minutes; this script spends them on the runs the CPU
recipe takes hours for, side by side, and packs what they wrote for the CPU side to resume from:

  skipclip_more  the shipped SkipClip student (models/skipclip_sbonito.pt) with more skip-free KD
                 steps (issue 15's next lever, measured: each longer stage gained accuracy)
  bonito_s       our bonito_s (3 residual blocks) distilled from the teacher's data, then SkipClip on
                 it (issue 15: the method on one of our own models with skips)
  qabas_*        the QABAS searches at MinION real time and 4x and the trainings of the derived models
                 and of the hand-designed reference, one recipe (bench/qabas_experiment.py --only)

Steps: make the distillation data (make distill-data's commands, the teacher on the GPU); run
every job's first command for a few steps side by side to measure its step rate; size each job's
epochs (and the searches' steps) to the time left; run the jobs side by side, each killed at the
deadline (a killed run leaves its checkpoint, and its rerun resumes); write OUT/plan.json and one
archive per job (runs/ layout) to OUT. Back on the CPU side: `tar xzf OUT/NAME.tgz -C runs`, then
`make qabas QABAS_ARGS="--search-steps N --epochs E"` (plan.json) builds and evaluates.

Usage (on the GPU machine, shared data under $RUBICON_DATA):
    python bench/gpu_session.py OUT [--budget-s 470] [--device cuda]
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUBICON = [sys.executable, "-m", "flow.cli"]
UNLABELLED = "reads/unlabelled_r9.4.1/unlabelled_r9.4.1_dna.blow5"
STEPS_PER_EPOCH = 642       # kd_real + kd_sim at batch 16, validation chunks held out (trainer's _Data)
QABAS_STEPS, QABAS_EPOCHS = 1500, 3   # bench/qabas_experiment.py's defaults (make qabas)
PROBE_STEPS = 12


def sh(cmd: list, log: Path, deadline: float | None = None) -> subprocess.Popen:
    """Start `cmd` with its output in `log`; `deadline` (time.time()) kills it with `timeout`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    if deadline is not None:
        cmd = ["timeout", "-s", "INT", "-k", "20", str(max(1, int(deadline - time.time()))), *cmd]
    print("$ " + " ".join(map(str, cmd)), flush=True)
    return subprocess.Popen([str(c) for c in cmd], stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=REPO)


def rate(log: Path) -> float:
    """Steps per second from the last tqdm rate in a log (0 when none)."""
    found = re.findall(r"([\d.]+)(step/s|s/step)", log.read_text(errors="replace"))
    if not found:
        return 0.0
    value, unit = found[-1]
    return float(value) if unit == "step/s" else 1 / float(value)


def chain(*cmds: list) -> list:
    """One shell job running commands in order, stopping at the first failure."""
    return ["bash", "-c", " && ".join(" ".join(f"'{c}'" for c in map(str, cmd)) for cmd in cmds)]


def jobs(plan: dict, runs: Path, data: list, device: str) -> dict:
    """The commands of every job at the planned sizes (the probe runs their first command)."""
    common = ["--device", device, "--threads", "2"]
    kd = ["--kd-alpha", "0.9", "--kd-temperature", "2"]
    q = [sys.executable, "bench/qabas_experiment.py", "--runs", runs, "--datasets", *data, "--device", device,
         "--search-steps", plan["qabas_search_steps"], "--epochs", plan["qabas_epochs"], "--threads", "2"]
    bonito, student = runs / "bonito_s_kd", runs / "skipclip_bonito_s"
    return {
        "skipclip_more": [[*RUBICON, "train", "models/skipclip_sbonito.yaml", *data, "-o", runs / plan["skipclip_out"],
                           "--init", plan["skipclip_init"], *kd, "--lr", "5e-4", "--warmup-steps", "50",
                           "--epochs", plan["skipclip_epochs"], "--seed", "6", *common, *plan.get("skipclip_extra", [])]],
        "bonito_s": [[*RUBICON, "train", "bonito_s", *data, "-o", bonito, *kd, "--lr", "2e-3", "--warmup-steps", "100",
                      "--epochs", plan["bonito_epochs"], "--seed", "1", *common],
                     [*RUBICON, "skipclip", bonito / "model.pt", *data, "-o", student, "--epochs", plan["clip_epochs"],
                      "--stride", plan["clip_stride"], "--seed", "1", *common]],
        **{name: [[*q, "--only", name]] for name in ("ref_scaled_minion", "ref_scaled_minion4x",
                                                          "qabas_minion", "qabas_minion4x")},
    }


def make_data(runs: Path, device: str, log_dir: Path) -> list[Path]:
    """make distill-data's datasets (same seeds), the teacher's logits computed on `device`."""
    from flow.paths import data_file

    real, sim = runs / "kd_real", runs / "kd_sim"
    if not (runs / "sim_kd" / "truth.hdf5").exists():
        sh([*RUBICON, "simulate", "--random-genome", "2000000", "-n", "400", "--seed", "12", "--no-pod5", "-o", runs / "sim_kd"],
           log_dir / "simulate.log").wait()
    procs = [sh([*RUBICON, "chunkify", src, "--teacher", "teacher_sbonito", "-o", out, "--device", device],
                log_dir / f"chunkify_{out.name}.log") for src, out in
             ((data_file(UNLABELLED), real), (runs / "sim_kd" / "truth.hdf5", sim)) if not (out / "chunks.npy").exists()]
    if any(p.wait() for p in procs):
        for log in sorted(log_dir.glob("*.log")):
            print(f"== {log.name}\n{log.read_text(errors='replace')[-1500:]}")
        raise SystemExit(f"making the datasets failed: logs above and in {log_dir}")
    return [real, sim]


def size(budget: float, rates: dict) -> dict:
    """Epochs and search steps that end inside `budget` seconds at the probed rates (0.8 safety)."""
    usable = 0.8 * budget
    plan = {}
    r = rates["skipclip_more"]
    steps = usable * r
    plan["skipclip_epochs"] = max(1, int(steps // STEPS_PER_EPOCH))
    if steps < STEPS_PER_EPOCH:  # not one epoch: the schedule spans one, and the run stops early
        plan["skipclip_extra"] = ["--max-steps", str(max(50, int(steps)))]
    r = rates["bonito_s"]
    epochs = usable * r / STEPS_PER_EPOCH
    plan["bonito_epochs"] = max(1, int(0.55 * epochs))
    plan["clip_epochs"] = max(1, int(0.45 * epochs))
    plan["clip_stride"] = f"{0.2 * plan['clip_epochs']:.3f}ep"  # bonito_s's 3 cuts in the first 60%, then skip-free
    search_s = QABAS_STEPS / max(rates["qabas_search"], 1e-3)
    train_s = QABAS_EPOCHS * STEPS_PER_EPOCH / max(rates["ref_rubicall_pynq"], 1e-3)
    f = min(1.0, usable / (search_s + train_s))
    plan["qabas_search_steps"] = max(100, int(QABAS_STEPS * f) // 50 * 50)
    plan["qabas_epochs"] = max(1, math.floor(QABAS_EPOCHS * f + 1e-9))
    return {k: (str(v) if not isinstance(v, list) else v) for k, v in plan.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--budget-s", type=float, default=470, help="wall time for everything, data to archives")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--plan", type=json.loads, help="sizes as JSON (size()'s keys): skip the probe")
    ap.add_argument("--jobs", nargs="+", help="run only these jobs (skipclip_more, bonito_s, ref_scaled_*, qabas_*)")
    ap.add_argument("--skipclip-init", default="models/skipclip_sbonito.pt", help="the SkipClip student to continue")
    ap.add_argument("--skipclip-out", default="skipclip_more", help="its training folder under RUNS")
    args = ap.parse_args()
    start = time.time()
    deadline = start + args.budget_s - 25  # leaves the archives their time
    os.environ["PYTHONUNBUFFERED"] = "1"
    runs, logs = args.runs.resolve(), args.runs.resolve() / "gpu_logs"
    args.out.mkdir(parents=True, exist_ok=True)
    data = make_data(runs, args.device, logs)
    print(f"data ready at {time.time() - start:.0f} s", flush=True)

    stage = {"skipclip_init": args.skipclip_init, "skipclip_out": args.skipclip_out}
    if args.plan:
        rates, plan = {}, {k: (v if isinstance(v, list) else str(v)) for k, v in args.plan.items()}
    else:
        rates, plan = probe_and_size(runs, data, logs, args, start, deadline, stage)
    plan |= stage
    (args.out / "plan.json").write_text(json.dumps({"rates": rates, "plan": plan, "device": args.device}, indent=1))
    print(f"plan: {plan}", flush=True)

    todo = {k: v for k, v in jobs(plan, runs, data, args.device).items() if not args.jobs or k in args.jobs}
    running = {name: sh(chain(*cmds), logs / f"{name}.log", deadline) for name, cmds in todo.items()}
    codes = {name: p.wait() for name, p in running.items()}
    print(f"exit codes: {codes} at {time.time() - start:.0f} s", flush=True)
    (args.out / "plan.json").write_text(json.dumps({"rates": rates, "plan": plan, "device": args.device,
                                                    "exit_codes": codes, "seconds": time.time() - start}, indent=1))
    archives = {"skipclip_more.tgz": [args.skipclip_out], "bonito_s.tgz": ["bonito_s_kd", "skipclip_bonito_s"],
                "qabas.tgz": ["qabas"], "logs.tgz": ["gpu_logs"]}
    for archive, dirs in archives.items():
        with tarfile.open(args.out / archive, "w:gz") as tar:
            for d in dirs:
                if (runs / d).exists():
                    tar.add(runs / d, arcname=d)
    print(f"archives in {args.out} at {time.time() - start:.0f} s", flush=True)


def probe_and_size(runs: Path, data: list, logs: Path, args, start: float, deadline: float, stage: dict):
    """Every job's first command for a few steps, side by side (as they will run); sizes from their rates."""
    probe_plan = {"skipclip_epochs": "1", "bonito_epochs": "1", "clip_epochs": "1", "clip_stride": "0.2ep",
                  "qabas_search_steps": str(QABAS_STEPS), "qabas_epochs": str(QABAS_EPOCHS), **stage}
    probe_runs = runs / "gpu_probe"
    probe = jobs(probe_plan, probe_runs, data, args.device)
    probes = {"skipclip_more": probe["skipclip_more"][0], "bonito_s": probe["bonito_s"][0],
              "ref_rubicall_pynq": [*RUBICON, "train", "models/rubicall_pynq.yaml", *data, "-o",
                                    probe_runs / "ref", "--device", args.device, "--threads", "2"],
              "qabas_search": [*RUBICON, "search", "models/search/pynq_default.yaml", *data, "-o",
                               probe_runs / "search", "--target", "pynq-z2", "--samples-per-s", "2048000",
                               "--warmup-steps", "2", "--device", args.device, "--threads", "2"]}
    procs = {k: sh([*cmd, "--max-steps", PROBE_STEPS], logs / f"probe_{k}.log", start + 150) for k, cmd in probes.items()}
    for p in procs.values():
        p.wait()
    rates = {k: rate(logs / f"probe_{k}.log") for k in probes}
    print(f"probe rates (steps/s): {rates} at {time.time() - start:.0f} s", flush=True)
    return rates, size(deadline - time.time(), rates)


if __name__ == "__main__":
    main()
