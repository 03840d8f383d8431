"""The differentiable search loop: alternating weight and architecture steps, exact resume, data parallel.

Every step is a weight step (AdamW on the shared weights, task loss on a training batch, one
Gumbel-softmax sample of the architecture; with `anchor`, one fixed architecture too, see
`_weight_loss`) followed, after `warmup_steps`, by an architecture
step (Adam on the logits, task loss on a validation batch + λ · hardware penalty). The hardware
penalty is `flow.search.hwcost.CostModel.penalty`: the expected LUT/BRAM/DSP/cycles of the
network against the target's budget, differentiable in every logit. With `gate`, the penalty acts
only on architecture steps whose argmax architecture is over the budget (λ is then a multiplier
that is λ or 0: dual ascent with an unbounded step, capped at λ). Why: the expected cost is
dominated by the dear choices that keep some probability, so an always-on penalty keeps pushing
until the argmax is far below the budget (measured on pynq-z2: 12k LUTs derived under a 43k
budget); the gate stops pushing once the architecture the search would derive fits, and leaves
the task term to choose among those that do. The gate alone can overshoot: while the argmax is
over, every factor moves cheaper at once, and once it fits nothing moves it back (measured on
pynq-z2 at MinION: from 111k LUTs to 22.6k in 30 steps, under a 43k budget, while the scaled hand
design uses 33k). With `floor`, an argmax below that share of every area budget makes the step
pull the expected area up (−λ · Σ expected/budget): the budget is a band, [floor, 1], not a ceiling.
The derived architecture (logs,
Pareto rows, derived.yaml) is the most probable one within the budget (flow.search.select).

Determinism: weights start from `seed`; the batch of step s comes from the data's own
(seed, epoch) permutation, the validation batch and the Gumbel noise from (seed, s). A
checkpoint holds the supernet (weights and logits), both optimisers, the step and the logs, so a
resumed run continues exactly as an uninterrupted one.

Data parallel (torchrun; gloo on CPU, nccl on CUDA): every process takes its contiguous shard of
the global batch, samples the same architecture (the noise depends on the step only), computes
BatchNorm statistics over the global batch and averages gradients (weights and logits) before
each update, so the result equals one process with the same global batch up to the order of
floating-point sums. Rank 0 writes every file.

The task loss is passed in (the CLI passes flow.train.ctc's CTC with label smoothing): the search
sits beside training in the import order (DESIGN §3) and does not import it.
"""
import csv
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from flow.data.read import decode_bases
from flow.decode.ctc import greedy_decode
from flow.errors import FlowError
from flow.evaluate.accuracy import accuracy
from flow.nn.checkpoint import atomic_save, deferred_interrupts, interrupted
from flow.search.derive import derived_spec, describe, write_model_yaml, write_pareto
from flow.search.hwcost import CostModel
from flow.search.select import derive, factor_probabilities
from flow.search.supernet import Supernet, batch_statistics_only
from flow.search.warmstart import warm_start

LOG_FIELDS = ("step", "tau", "lam", "argmax_excess", "weight_loss", "anchor_loss", "kd_loss", "arch_task_loss",
              "hw_penalty", "exp_lut", "exp_bram18", "exp_dsp", "exp_cycles", "lut", "bram18", "dsp", "cycles", "architecture")


# Adam moves every parameter by about its learning rate whatever the gradient's size, so a
# logit whose only gradient is the penalty's faint pull far below the budget (or float noise, when
# its slot's sampled op ignored it) would still move at full speed. Gradients well below this eps
# move the logits in proportion instead; the task's and an active penalty's (1e-3 and up) see Adam.
ARCH_ADAM_EPS = 1e-4


@dataclass
class SearchConfig:
    steps: int = 1500
    batch_size: int = 16            # the global batch (split across processes)
    lr: float = 2e-3                # weights (AdamW, warmup then cosine)
    weight_decay: float = 0.01
    arch_lr: float = 1e-2           # architecture logits (Adam)
    warmup_steps: int = 300         # weight steps before the first architecture step
    tau_start: float = 5.0          # Gumbel-softmax temperature, annealed geometrically
    tau_end: float = 0.5
    lam: float = 1.0                # weight of the hardware penalty
    gate: bool = False              # the penalty acts only while the argmax architecture is over the budget
    floor: float = 0.0              # with gate: below this share of every area budget, the argmax is pushed dearer
    sharpness: float = 20.0         # softplus sharpness of the penalty (it pulls a little below the budget too)
    task_weight: float = 1.0        # 0: architecture steps see the hardware term alone
    grad_clip: float = 2.0
    eval_every: int = 150           # score the derived architecture (Pareto data)
    eval_chunks: int = 64
    checkpoint_every: int = 50
    log_every: int = 10
    max_steps: int | None = None    # stop early (tests); the schedules and logs still span `steps`
    seed: int = 1
    threads: int = 2
    init: str | None = None         # a trained chain model whose weights start the supernet (flow.search.warmstart)
    init_prior: float = 2.0         # with init: the logit its choices start at (0: uniform logits)
    beam: int = 256                 # states per slot of the derivation (flow.search.select)
    anchor: str = "none"            # every weight step also trains: "argmax" (every factor's) or "derived" (within budget)
    inplace_kd: float = 0.0         # with an anchor: weight of the sampled path's KL to the anchor's frames


def init_identity(init: str | None) -> str | None:
    """`--init` as resume compares it: a model file by where it lies (a relative path, an absolute one
    and a path through a link are the same start); a model name as it is."""
    return str(Path(init).resolve()) if init and Path(init).is_file() else init


def _resumable(config: dict) -> dict:
    merged = asdict(SearchConfig()) | config
    return {k: v for k, v in merged.items() if k not in ("max_steps", "threads")} | {"init": init_identity(merged["init"])}


def tau_at(step: int, cfg: SearchConfig) -> float:
    return cfg.tau_start * (cfg.tau_end / cfg.tau_start) ** min(1.0, step / max(1, cfg.steps - 1))


def lr_at(step: int, cfg: SearchConfig) -> float:
    warm = max(1, min(cfg.warmup_steps, cfg.steps // 10))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    progress = (step - warm) / max(1, cfg.steps - warm)
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


class _World:
    """This process's rank and the world size (1 without torch.distributed)."""

    def __init__(self):
        dist = torch.distributed
        self.on = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        self.rank = dist.get_rank() if self.on else 0
        self.size = dist.get_world_size() if self.on else 1

    def shard(self, idx: np.ndarray) -> np.ndarray:
        if len(idx) % self.size:
            raise FlowError(f"a batch of {len(idx)} does not split evenly over {self.size} processes; "
                            "choose --batch-size a multiple of the process count")
        n = len(idx) // self.size
        return idx[self.rank * n:(self.rank + 1) * n]

    def average(self, params) -> None:
        """DistributedDataParallel's gradient averaging, over the parameters given."""
        if not self.on:
            return
        grads = [p.grad for p in params if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        torch.distributed.all_reduce(flat)
        flat /= self.size
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def mean(self, value: torch.Tensor) -> float:
        """The global batch's mean of a per-shard mean (for the logs)."""
        if self.on:
            value = value.detach().clone()
            torch.distributed.all_reduce(value)
            value /= self.size
        return value.item()

    def barrier(self):
        if self.on:
            torch.distributed.barrier()


def _generator(seed: int, step: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, step, stream]).generate_state(1)[0]))


def _valid_batch(data, step: int, cfg: SearchConfig, world: _World) -> np.ndarray:
    n = min(cfg.batch_size, len(data.valid)) // world.size * world.size
    if n == 0:
        raise FlowError(f"{len(data.valid)} validation chunks cannot feed {world.size} processes; use more data")
    rng = np.random.default_rng([cfg.seed, step, 1])
    return np.sort(rng.choice(data.valid, size=n, replace=False))


def _task(net, data, idx, choices, gates, task_loss, device):
    x, y, lengths, _ = data.tensors(idx)
    return task_loss(net(x.to(device), choices, gates), y.to(device), lengths.to(device))


def frame_kl(teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
    """Mean over frames of KL(teacher ‖ student), both CTC log-probabilities [T, N, classes]."""
    return (teacher.exp() * (teacher - student)).sum(-1).mean()


ANCHORS = ("none", "argmax", "derived")
# how the bit-width factors reach their logits (flow.search.supernet.bit_mixture); recorded in every
# checkpoint and search.json, so a search made with the earlier output gating is not resumed or reused
BIT_GATES = "mixture"


def _weight_loss(net, data, idx, step: int, tau: float, cfg: SearchConfig, anchor, task_loss, device) -> tuple:
    """The weight step's loss: the task loss of one sampled architecture; with an `anchor`
    (choices, or None), plus the anchor's task loss on the same batch and, with `inplace_kd`, the
    sampled path's frame KL to the anchor's (detached) posteriors.

    Why: a path sampled from hundreds of combinations per slot is rarely the one the search would
    derive, so training only sampled paths wears away what the warm start gave the shared weights
    (measured: every derived architecture scored 0% in the supernet, the weight loss stuck at
    1.5–1.8), and the architecture step's task term then ranks paths that all fail to read. The
    anchor keeps one architecture trained every step (the sandwich rule of slimmable and BigNAS
    networks), and the distillation pulls its neighbours towards it. "argmax" trains the one the
    logits lead to; "derived" the one the search would ship now, the most probable within the budget
    (measured with "argmax" on pynq-z2: while the argmax was the over-budget warm design, only that
    path read, and every path within the budget scored as badly as a random one)."""
    x, y, lengths, _ = data.tensors(idx)
    x, y, lengths = x.to(device), y.to(device), lengths.to(device)
    choices, gates = net.sample(_generator(cfg.seed, step, 0), tau)
    gates = [{f: g.detach() for f, g in slot.items()} for slot in gates]  # the logits learn on architecture steps only
    sampled = net(x, choices, gates)
    loss = task_loss(sampled, y, lengths)
    parts = {"weight_loss": loss}
    if anchor is not None:
        anchored = net(x, anchor, net.fixed(anchor))
        parts["anchor_loss"] = task_loss(anchored, y, lengths)
        loss = loss + parts["anchor_loss"]
        if cfg.inplace_kd > 0:
            parts["kd_loss"] = frame_kl(anchored.detach(), sampled)
            loss = loss + cfg.inplace_kd * parts["kd_loss"]
    return loss, parts


def score(net: Supernet, data, choices, chunks: int, task_loss, device) -> dict:
    """Accuracy (greedy decoding) and task loss of one architecture in the supernet on the first
    `chunks` validation chunks; BatchNorm on batch statistics (the running ones mix every sampled
    path), without touching the running statistics or syncing processes."""
    accs, losses = [], []
    gates = net.fixed(choices)
    with batch_statistics_only(net), torch.no_grad():
        idx_all = data.valid[:chunks]
        for start in range(0, len(idx_all), 16):
            idx = idx_all[start:start + 16]
            x, y, lengths, _ = data.tensors(idx)
            log_probs = net(x.to(device), choices, gates)
            losses.append(float(task_loss(log_probs, y.to(device), lengths.to(device))) * len(idx))
            lp = log_probs.cpu().numpy()
            for i in range(len(idx)):
                call, _ = greedy_decode(lp[:, i])
                accs.append(accuracy(call, decode_bases(y[i, : lengths[i]].numpy())))
    return {"accuracy": float(np.mean(accs)), "valid_loss": sum(losses) / len(idx_all)}


def run_search(space, data, out_dir: Path, cfg: SearchConfig, costs: CostModel, task_loss,
               device: str = "cpu", progress: bool = True) -> dict:
    """Search (or resume) into out_dir; returns the summary also written to search.json.

    `data`: batch_indices(step) → global batch ids, tensors(ids) → (signal, labels, lengths, _),
    valid → validation ids (flow.train.trainer's chunk data). `task_loss(log_probs, labels, lengths)`
    → scalar."""
    if cfg.anchor not in ANCHORS:
        raise FlowError(f"--anchor {cfg.anchor!r}: choose one of {', '.join(ANCHORS)}")
    if cfg.floor and not (cfg.gate and 0 < cfg.floor < 1):
        raise FlowError(f"--floor {cfg.floor}: give a share of the budget between 0 and 1, with --gate "
                        "(the floor pushes the argmax dearer only where the gate lets the penalty go)")
    if cfg.inplace_kd and cfg.anchor == "none":
        raise FlowError("--inplace-kd distils sampled paths from the anchor; add --anchor argmax or --anchor derived")
    world = _World()
    out_dir = Path(out_dir)
    if world.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    net = Supernet(space).to(device)
    w_opt = torch.optim.AdamW(net.weight_parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=cfg.arch_lr, betas=(0.5, 0.999), eps=ARCH_ADAM_EPS)
    last = cfg.steps if cfg.max_steps is None else min(cfg.steps, cfg.max_steps)
    ckpt = out_dir / "checkpoint.pt"
    meta = {"space": space.source, "config": asdict(cfg) | {"init": init_identity(cfg.init)}, "target": costs.target.name, "bit_gates": BIT_GATES,
            "cycles_target": costs.cycles_target, "budget": costs.budget.tolist()}
    step, log_rows, pareto_rows, elapsed = 0, [], [], 0.0
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        if _resumable(state["meta"]["config"]) != _resumable(meta["config"]) or \
                {k: v for k, v in state["meta"].items() if k != "config"} != {k: v for k, v in meta.items() if k != "config"}:
            raise FlowError(f"{ckpt}: checkpoint was made with another space, target or config; use a new --out or delete it")
        net.load_state_dict(state["net"])
        w_opt.load_state_dict(state["w_opt"])
        a_opt.load_state_dict(state["a_opt"])
        step, log_rows, pareto_rows = int(state["step"]), state["log"], state["pareto"]
        elapsed = float(state.get("elapsed", 0.0))
        if world.rank == 0:
            print(f"resuming from {ckpt} at step {step}/{last}")
    elif cfg.init:
        described = warm_start(net, cfg.init, cfg.init_prior)  # every process: the same weights everywhere
        if world.rank == 0:
            print(f"warm start from {described}")

    def save():
        if world.rank == 0:
            atomic_save({"net": net.state_dict(), "w_opt": w_opt.state_dict(), "a_opt": a_opt.state_dict(),
                         "step": step, "log": log_rows, "pareto": pareto_rows, "meta": meta,
                         "elapsed": elapsed + time.perf_counter() - started}, ckpt)
            _write_log(log_rows, out_dir / "search_log.csv")
        world.barrier()

    def evaluate():
        choices, _ = derive(net, costs, cfg.beam)
        if world.rank == 0:
            spec = derived_spec(space, choices)
            row = {"step": step, "architecture": describe(spec)}
            row |= score(net, data, choices, cfg.eval_chunks, task_loss, device)
            row |= costs.summary(costs.network(costs.one_hot(choices), choices))
            pareto_rows.append(row)
            bar.write(f"step {step}: {row['architecture']}: accuracy {100 * row['accuracy']:.1f}%, "
                      f"LUT {row['lut']:,.0f} BRAM {row['bram18']:,.0f} DSP {row['dsp']:,.0f}, "
                      f"{row['effective_samples_per_s'] / 1e6:.2f} M samples/s")
        world.barrier()

    started = time.perf_counter()
    bar = tqdm(total=last, initial=step, desc=f"search {space.name}", unit="step", dynamic_ncols=True,
               disable=not progress or world.rank != 0)
    net.train()
    with deferred_interrupts() as stop:
        while step < last:
            tau = tau_at(step, cfg)
            for group in w_opt.param_groups:
                group["lr"] = lr_at(step, cfg)
            # weight step: a training batch, one sampled architecture (and the anchor)
            anchor = {"none": lambda: None, "argmax": net.derived,
                      "derived": lambda: derive(net, costs, cfg.beam)[0]}[cfg.anchor]()
            loss_w, parts = _weight_loss(net, data, world.shard(data.batch_indices(step)), step, tau, cfg, anchor,
                                         task_loss, device)
            w_opt.zero_grad()
            a_opt.zero_grad()
            loss_w.backward()
            world.average(net.weight_parameters())
            torch.nn.utils.clip_grad_norm_(net.weight_parameters(), cfg.grad_clip)
            w_opt.step()
            row = {"step": step + 1, "tau": tau} | {k: world.mean(v) for k, v in parts.items()}
            # architecture step: a validation batch and the hardware term
            if step >= cfg.warmup_steps:
                a_opt.zero_grad()
                w_opt.zero_grad()
                derived = net.derived()
                hw = costs.penalty(net.probs(), derived, cfg.sharpness)
                lam = cfg.lam
                term = hw
                if cfg.gate:
                    with torch.no_grad():
                        argmax_cost = costs.network(costs.one_hot(derived), derived)
                        row["argmax_excess"] = costs.excess(argmax_cost)
                        under = costs.area_share(argmax_cost) < cfg.floor
                    lam = cfg.lam if row["argmax_excess"] > 0 else (-cfg.lam if under else 0.0)
                    if lam < 0:  # the budget left unused: the expected area pulled up
                        term = costs.area_use(costs.network(net.probs(), derived))
                loss_a = lam * term.to(device=device, dtype=torch.float32)
                if cfg.task_weight > 0:
                    choices, gates = net.sample(_generator(cfg.seed, step, 1), tau)
                    task = _task(net, data, world.shard(_valid_batch(data, step, cfg, world)), choices, gates, task_loss,
                                 device)
                    loss_a = loss_a + cfg.task_weight * task
                    row["arch_task_loss"] = world.mean(task)
                loss_a.backward()
                world.average(net.arch_parameters())
                a_opt.step()
                row["hw_penalty"], row["lam"] = hw.item(), lam
            step += 1
            bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.steps:
                with torch.no_grad():
                    expected = costs.network(net.probs(), net.derived())
                    derived, _ = derive(net, costs, cfg.beam)
                    exact = costs.network(costs.one_hot(derived), derived)
                row |= {f"exp_{k}": float(v) for k, v in zip(("lut", "bram18", "dsp", "cycles"), expected)}
                row |= {k: float(v) for k, v in zip(("lut", "bram18", "dsp", "cycles"), exact)}
                row["architecture"] = describe(derived_spec(space, derived))
                log_rows.append(row)
                bar.set_postfix(loss=f"{row['weight_loss']:.3f}", lut=f"{row['lut']:,.0f}")
            if step % cfg.eval_every == 0 or step == cfg.steps:
                evaluate()
            if step % cfg.checkpoint_every == 0 or step == last or stop:
                save()
            if stop:
                bar.close()
                raise interrupted(step, ckpt)
    bar.close()
    return finish(space, net, costs, out_dir, pareto_rows, meta | {"steps": step,
                  "search_seconds": elapsed + time.perf_counter() - started}) if world.rank == 0 else {}


def finish(space, net: Supernet, costs: CostModel, out_dir: Path, pareto_rows: list[dict], meta: dict) -> dict:
    """The derived model YAML, the Pareto data and plot, and search.json."""
    choices, fits = derive(net, costs, meta["config"]["beam"])
    if not fits:
        print(f"warning: no architecture the beam reached fits the budget on {costs.target.name}; "
              "derived the argmax of every factor instead")
    spec = derived_spec(space, choices)
    cost = costs.summary(costs.network(costs.one_hot(choices), choices))
    target_rate = "none" if costs.cycles_target is None else f"{costs.cycles_target:,} cycles per chunk"
    header = (f"Derived by rubicon search from {space.source} for {costs.target.name} "
              f"(throughput target: {target_rate}).\n"
              f"Estimated: LUT {cost['lut']:,.0f}, BRAM18 {cost['bram18']:,.0f}, DSP {cost['dsp']:,.0f}, "
              f"{cost['effective_samples_per_s'] / 1e6:.3f} M effective samples/s (stem, head and layers; "
              "FIFOs and width converters not included).")
    path = write_model_yaml(spec, out_dir / "derived.yaml", header)
    write_pareto(pareto_rows, out_dir, f"{space.name} on {costs.target.name}")
    summary = meta | {"derived": str(path), "architecture": describe(spec), "choices": choices, "estimate": cost,
                      "within_budget": fits, "argmax_architecture": describe(derived_spec(space, net.derived())),
                      "probabilities": factor_probabilities(net)}
    (out_dir / "search.json").write_text(json.dumps(summary, indent=1))
    return summary


def _write_log(rows: list[dict], path: Path) -> None:
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)
