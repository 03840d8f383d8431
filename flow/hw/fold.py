"""Folding and stream plumbing passes, FINN-style: each takes a ModelWrapper and returns a new one.

- `set_folding`: PE/SIMD per node. With a throughput target (cycles per chunk, chunks/s or
  samples/s) every node gets its cheapest folding that meets it; with `fit=True`, the
  highest throughput whose estimated resources (calibrated) fit the target's budget minus a
  headroom margin. Nothing that fits → a FlowError naming the bottleneck node, what it needs
  and what the budget allows.
- `insert_dwcs`: a StreamingDataWidthConverter where a producer's word differs from its
  consumer's.
- `insert_fifos`: a StreamingFIFO on every stream edge and on the graph input and output.

Run them in that order (FINN's order too). Chained foldings (fixed by the kernels' streams):
a sliding window's SIMD is its consumer's (the MVAU's SIMD in dense mode, the VVAU's PE in
depthwise mode, whose element order depends on it), and an FMPadding feeding a sliding window
takes the same SIMD; such a chain is folded as one unit. The cost of a unit is the sum of its
nodes' estimates (`flow.hw.estimate`), its cycles the slowest node's. "Cheapest" is the least
budget-normalised resource use Σ_r use_r / budget_r (ties: the less parallel folding), which
makes LUT, BRAM and DSP comparable on the board at hand.
"""
import copy
import json
import math
from dataclasses import dataclass, field

import numpy as np
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from flow.errors import FlowError
from flow.hw import estimate as E
from flow.ir.ops.base import DOMAIN, FOLD_ATTR, STYLE_KEYS, divisors
from flow.ir.ops.compute import MVAU, VVAU
from flow.ir.ops.resources import DSP48E1_A_BITS, DSP48E2_A_BITS

RES = E.RESOURCES
PLUMBING = ("StreamingFIFO", "StreamingDataWidthConverter")
DSP_PORT_BITS = {"zynq-7000": DSP48E1_A_BITS}  # by target family; DSP48E2 and DSP58 elsewhere


def dsp_port_bits(target) -> int:
    return DSP_PORT_BITS.get(getattr(target, "family", ""), DSP48E2_A_BITS)


# ---------------------------------------------------------------- stream words

def out_word(node, index: int = 0) -> int | None:
    """Elements per beat of output `index` (the op's kernel stream width); None for a per-chunk side output."""
    return getCustomOp(node).out_word(index)


def in_word(node, index: int = 0) -> int | None:
    """Elements per beat of input `index`; None for a weight, threshold or table input."""
    return getCustomOp(node).in_word(index)


def _copy(model: ModelWrapper) -> ModelWrapper:
    return ModelWrapper(copy.deepcopy(model.model))


def _is_stream(model, tensor: str) -> bool:
    shape = model.get_tensor_shape(tensor)
    return shape is not None and len(shape) == 3


# ---------------------------------------------------------------- folding units

@dataclass
class Unit:
    """Nodes folded together; `configs[i]` maps node name → {"pe"/"simd": value}."""
    members: list[tuple[str, str, dict]]  # (node name, op type, base estimator params)
    configs: list[dict[str, dict]]
    tie: str = ""  # why the nodes are folded together (for messages)
    cycles: np.ndarray = field(default=None, repr=False)
    res: np.ndarray = field(default=None, repr=False)           # [n_configs, len(RES)]
    par: np.ndarray = field(default=None, repr=False)           # [n_configs] parallelism (tie-break)
    node_costs: list = field(default=None, repr=False)          # [n_configs] {name: NodeCost}

    @property
    def names(self) -> list[str]:
        return [m[0] for m in self.members]

    def evaluate(self, calibration=None) -> "Unit":
        self.cycles = np.zeros(len(self.configs))
        self.res = np.zeros((len(self.configs), len(RES)))
        self.node_costs = []
        for i, cfg in enumerate(self.configs):
            costs = {}
            for name, op, base in self.members:
                try:
                    costs[name] = E.calibrated_estimate(op, base | cfg.get(name, {}), calibration)
                except ValueError as e:
                    raise FlowError(f"{name} ({op}): {e}") from None
            t = E.total(costs)
            self.cycles[i] = t.cycles
            self.res[i] = [getattr(t, r) for r in RES]
            self.node_costs.append(costs)
        self.par = np.array([self.parallelism(i) for i in range(len(self.configs))], dtype=float)
        return self

    def describe(self, i: int) -> str:
        parts = []
        for name, _, _ in self.members:
            fold = self.configs[i].get(name, {})
            if fold:
                parts.append(f"{name} " + " ".join(f"{FOLD_ATTR[k]}={fold[k]}" for k in FOLD_ATTR if k in fold))
        return ", ".join(parts)

    def parallelism(self, i: int) -> int:
        return sum(math.prod(v for k, v in f.items() if k not in STYLE_KEYS) for f in self.configs[i].values())


def window_unit(swg: tuple[str, dict], compute: tuple[str, str, dict], pad: tuple[str, dict] | None = None) -> Unit:
    """FMPadding → sliding window → MVAU (dense: shared SIMD, free PE) or VVAU (its PE the window's
    SIMD, its SIMD the window's taps per beat)."""
    (sname, sp), (cname, cop, cp) = swg, compute
    members = ([(pad[0], "FMPadding1D", pad[1])] if pad else []) + [(sname, "ConvolutionInputGenerator1D", sp),
                                                                     (cname, cop, cp)]
    configs = []
    for s in divisors(sp["channels"]):
        head = ({pad[0]: {"simd": s}} if pad else {})
        if cop == "VVAU":
            configs += [head | {sname: {"simd": s, "taps": fold["simd"]}, cname: fold}
                        for fold in VVAU.fold_choices(cp, pes=[s])]
        else:
            configs += [head | {sname: {"simd": s}, cname: fold} for fold in MVAU.fold_choices(cp, simds=[s])]
    tie = (f"{sname} SIMD = {cname} {'PE' if cop == 'VVAU' else 'SIMD'}"
           + (f" = {pad[0]} SIMD" if pad else "") + f", dividing IFMChannels={sp['channels']}"
           + (f"; {sname} TapsPerBeat = {cname} SIMD" if cop == "VVAU" else ""))
    return Unit(members, configs, tie)


def single_unit(name: str, op: str, params: dict) -> Unit:
    """A node folded on its own: every folding its op allows."""
    return Unit([(name, op, params)], [{name: fold} for fold in E.op_class(op, name).fold_choices(params)])


def graph_units(model: ModelWrapper, uram: bool = False) -> list[Unit]:
    """The folding units of a graph (chains tied as the module docstring says), in graph order."""
    if any(n.op_type in PLUMBING for n in model.graph.node):
        raise FlowError("set_folding works on the graph before insert_dwcs/insert_fifos "
                        "(it found StreamingFIFO/StreamingDataWidthConverter nodes)")
    params = {n.name: E.node_params(model, n, uram=uram) for n in model.graph.node}
    if len(params) != len(model.graph.node):
        raise FlowError("node names are not unique; the folding is keyed by node name")
    by_name = {n.name: n for n in model.graph.node}

    def only_consumer(node):
        cons = model.find_consumers(node.output[0]) or []
        return cons[0] if len(cons) == 1 else None

    done, units = set(), []
    for node in model.graph.node:
        if node.op_type != "ConvolutionInputGenerator1D":
            continue
        cons = only_consumer(node)
        depthwise = getCustomOp(node).get_nodeattr("depthwise")
        want = "VVAU" if depthwise else "MVAU"
        if cons is None or cons.op_type != want:
            if depthwise:
                raise FlowError(f"{node.name}: a depthwise sliding window must feed exactly one VVAU "
                                "(its element order is the VVAU's PE)")
            continue
        prod = model.find_producer(node.input[0])
        pad = None
        if prod is not None and prod.op_type == "FMPadding1D" and only_consumer(prod) is node:
            pad = (prod.name, params[prod.name][1])
        units.append(window_unit((node.name, params[node.name][1]), (cons.name, want, params[cons.name][1]), pad))
        done.update(units[-1].names)
    for node in model.graph.node:
        if node.name not in done:
            op, p = params[node.name]
            units.append(single_unit(node.name, op, p))
    order = {n: i for i, n in enumerate(by_name)}
    return sorted(units, key=lambda u: min(order[n] for n in u.names))


# ---------------------------------------------------------------- choosing foldings

def budget_of(target, headroom: float) -> np.ndarray:
    if not 0 <= headroom < 1:
        raise FlowError(f"headroom must be in [0, 1) (got {headroom})")
    return np.array([target.resources[r] * (1 - headroom) for r in RES], dtype=float)


def normalised(res: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """Σ_r use_r / budget_r; a resource the board lacks (budget 0) makes any use infinite."""
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(budget > 0, res / np.where(budget > 0, budget, 1), np.where(res > 0, np.inf, 0.0))
    return frac.sum(axis=-1)


def _choice_table(unit: Unit, budget: np.ndarray):
    """Configs sorted by cycles with the prefix-cheapest index: for a cycle target T, the cheapest
    config meeting it is best[searchsorted(cycles, T, 'right') - 1]."""
    par = np.array([unit.parallelism(i) for i in range(len(unit.configs))], dtype=float)
    score = normalised(unit.res, budget) + 1e-9 * par  # ties → less parallel
    order = np.lexsort((score, unit.cycles))
    cyc = unit.cycles[order]
    best, run = np.empty(len(order), dtype=int), None
    for k, i in enumerate(order):
        if run is None or score[i] < score[run]:
            run = i
        best[k] = run
    return cyc, best


def cheapest(unit: Unit, cycles_target: float, budget: np.ndarray) -> int | None:
    """Index of the cheapest config of an evaluated unit that meets the cycle target, or None."""
    cyc, best = _choice_table(unit, budget)
    k = np.searchsorted(cyc, cycles_target, side="right") - 1
    return int(best[k]) if k >= 0 else None


CHOICE_TIME_LIMIT_S = 20.0
# How much of a trial's plumbing (width converters, FIFOs) each later round reserves from the budget.
# FIFO sizing deepens the default-depth FIFOs the budget check sees, and a fit's bisection may land
# on a faster folding with more plumbing: a margin. At a fixed throughput target the next folding's
# plumbing is much like the trial's: its exact cost first (a margin can leave no folding at all).
FIT_PLUMBING_MARGINS = (1.5, 1.5, 1.5)
TARGET_PLUMBING_MARGINS = (1.0, 1.5, 1.5)


def best_choice(units: list[Unit], cycles_target: float, budget: np.ndarray) -> tuple[list[int], np.ndarray] | None:
    """Per unit the config that meets the cycle target, with every resource within budget and the
    least budget-normalised use Σ_r use_r / budget_r in total (LUT, BRAM and DSP made comparable on
    the board at hand; ties: the less parallel folding), so the work moves to whichever resource the
    board still has: multipliers to DSPs, memories to BRAM. It is a multiple-choice knapsack, solved
    exactly as a small integer program (HiGHS through scipy). None when no choice fits."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix

    allowed = [np.flatnonzero(u.cycles <= cycles_target) for u in units]
    if any(len(a) == 0 for a in allowed):
        return None
    offsets = np.cumsum([0] + [len(a) for a in allowed])
    use = np.concatenate([u.res[a] for u, a in zip(units, allowed)])             # [n, resources]
    cost = np.concatenate([normalised(u.res[a], budget) + 1e-9 * u.par[a] for u, a in zip(units, allowed)])
    if not np.isfinite(cost).any():
        return None
    cost = np.where(np.isfinite(cost), cost, 0.0)
    one_each = csr_matrix((np.ones(offsets[-1]), np.concatenate([np.arange(o, e) for o, e in zip(offsets, offsets[1:])]),
                           offsets), shape=(len(units), offsets[-1]))
    limit = np.where(budget > 0, budget + 1e-9, 0.0)  # a resource the board lacks: no use at all
    result = milp(cost, integrality=np.ones(len(cost)), bounds=Bounds(0, 1),
                  constraints=[LinearConstraint(one_each, 1, 1), LinearConstraint(use.T, -np.inf, limit)],
                  options={"time_limit": CHOICE_TIME_LIMIT_S})
    if result.x is None:
        return None
    picked = np.rint(result.x).astype(bool)
    choice = [int(a[np.flatnonzero(picked[o:e])[0]]) for a, o, e in zip(allowed, offsets, offsets[1:])]
    return choice, sum(u.res[i] for u, i in zip(units, choice))


def cycle_targets(units: list[Unit]) -> np.ndarray:
    """The cycle targets worth trying, fastest first: every config's cycles that all units can meet."""
    targets = np.unique(np.concatenate([u.cycles for u in units]))
    return targets[targets >= max(float(u.cycles.min()) for u in units)]


def fastest_fit(units: list[Unit], targets: np.ndarray, budget: np.ndarray):
    """(index, best_choice) of the fastest target with a choice that fits, or (len(targets), None).
    A slower target admits every choice a faster one does, so the targets are bisected."""
    lo, hi, found = 0, len(targets), None
    while lo < hi:
        mid = (lo + hi) // 2
        best = best_choice(units, targets[mid], budget)
        if best is None:
            lo = mid + 1
        else:
            hi, found = mid, best  # the last success is at the final lo
    return lo, found


def _limit(units: list[Unit], candidates: np.ndarray, chosen: int, budget: np.ndarray) -> dict | None:
    """What stops the next faster cycle target: the resources whose budget alone, lifted, would let it
    fit (or, with none, the target itself: a node at its fastest folding)."""
    if chosen == 0:
        return None
    faster = float(candidates[chosen - 1])
    binding = []
    for j, r in enumerate(RES):
        lifted = budget.copy()
        lifted[j] = math.inf
        if budget[j] > 0 and best_choice(units, faster, lifted) is not None:
            binding.append(r)
    return {"next_cycles_per_chunk": faster, "resources": binding}


def chunk_samples(model: ModelWrapper) -> int:
    """Input frames per chunk (the T of the graph input [N, T, C])."""
    return int(model.get_tensor_shape(model.graph.input[0].name)[1])


def apply_configs(model: ModelWrapper, units: list[Unit], choice: list[int]) -> ModelWrapper:
    """A copy of the graph with config `choice[k]` of every unit `units[k]` written to its nodes."""
    out = _copy(model)
    nodes = {n.name: n for n in out.graph.node}
    for unit, i in zip(units, choice):
        for name, fold in unit.configs[i].items():
            inst = getCustomOp(nodes[name])
            for k, v in fold.items():
                inst.set_nodeattr(FOLD_ATTR[k], v if k in STYLE_KEYS else int(v))
    return out


def with_dsp_ports(model: ModelWrapper, target) -> ModelWrapper:
    """A copy whose MVAUs know the A-port width of the target's DSPs (it decides their packing)."""
    out = _copy(model)
    for node in out.graph.node:
        if node.op_type == "MVAU":
            getCustomOp(node).set_nodeattr("dspPortBits", dsp_port_bits(target))
    return out


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() or abs(x) >= 100 else f"{x:,.1f}"


def _overflow(used: np.ndarray, budget: np.ndarray, target, headroom) -> list[str]:
    return [f"{r.upper()} {_fmt(used[j])} (budget {_fmt(budget[j])} = {target.resources[r]:,} × {1 - headroom:g})"
            for j, r in enumerate(RES) if used[j] > budget[j] + 1e-9]


def _largest_user(units, choice, resource_index) -> tuple[str, float, str]:
    best = ("", -1.0, "")
    for unit, i in zip(units, choice):
        for name, cost in unit.node_costs[i].items():
            v = getattr(cost, RES[resource_index])
            if v > best[1]:
                best = (name, v, unit.describe(i) or "no folding")
    return best


def _over_budget_error(what: str, units, choice, used, budget, target, headroom) -> FlowError:
    over = [j for j in range(len(RES)) if used[j] > budget[j] + 1e-9]
    worst = max(over, key=lambda j: used[j] / budget[j] if budget[j] > 0 else math.inf)
    name, v, fold = _largest_user(units, choice, worst)
    needs = "; ".join(_overflow(used, budget, target, headroom))
    return FlowError(f"{what} does not fit {target.name}: it needs {needs}. "
                     f"The bottleneck is {name}: {RES[worst].upper()} {_fmt(v)} on its own at {fold}, of the "
                     f"{_fmt(budget[worst])} the budget allows.")


def _complete_totals(folded: ModelWrapper, calibration, target) -> E.NodeCost:
    """Totals with the data-width converters and default FIFOs the later passes will add."""
    return E.total(E.estimate_graph(insert_fifos(insert_dwcs(folded)), calibration, target))


def set_folding(model: ModelWrapper, target, cycles_target: float | None = None, fps: float | None = None,
                samples_per_s: float | None = None, fit: bool = False, headroom: float = 0.15,
                calibration=None) -> ModelWrapper:
    """PE/SIMD for every node (see module docstring). `target`: Target or name. Throughput as
    cycles per chunk, chunks/s (`fps`) or input samples/s (`samples_per_s` = fps · chunk
    samples); `fit=True` maximises throughput within budget × (1 − headroom) (and must still
    meet a throughput target if one is given). `calibration`: a Calibration, or None to load the
    target's stored factors. The result carries `rubicon_folding` metadata (JSON: mode, cycles per
    chunk, bottleneck node, chunks/s, samples/s, and the estimate totals including the width
    converters and default-depth FIFOs the later passes add, against the budget)."""
    from flow.hw.calibration import load_calibration
    from flow.hw.targets import Target, load_target

    target = target if isinstance(target, Target) else load_target(target)
    calibration = load_calibration(target.name) if calibration is None else calibration
    given = [x is not None for x in (cycles_target, fps, samples_per_s)]
    if sum(given) > 1:
        raise FlowError("give one throughput target: cycles_target, fps or samples_per_s")
    if not any(given) and not fit:
        raise FlowError("set_folding needs a throughput target (cycles_target, fps or samples_per_s) or fit=True")
    clock = target.clock_mhz * 1e6
    samples = chunk_samples(model)
    if samples_per_s is not None:
        fps = samples_per_s / samples
    if fps is not None:
        if fps <= 0:
            raise FlowError(f"the throughput target must be positive (got {fps} chunks/s)")
        cycles_target = math.floor(clock / fps)
    if cycles_target is not None and cycles_target <= 0:
        raise FlowError(f"the cycle target must be positive (got {cycles_target})")
    budget = budget_of(target, headroom)
    uram = target.resources.get("uram", 0) > 0
    model = with_dsp_ports(model, target)
    units = [u.evaluate(calibration) for u in graph_units(model, uram=uram)]
    fastest = [float(u.cycles.min()) for u in units]

    if cycles_target is not None:
        slow = max(range(len(units)), key=lambda k: fastest[k])
        if fastest[slow] > cycles_target:
            u = units[slow]
            i = int(np.argmin(u.cycles))
            rate = f"{clock / cycles_target:,.1f} chunks/s at {target.clock_mhz:g} MHz"
            raise FlowError(f"{u.names[-1]} cannot reach {_fmt(cycles_target)} cycles per chunk ({rate}): its fastest "
                            f"folding ({u.describe(i)}) takes {_fmt(fastest[slow])} cycles"
                            + (f" ({u.tie})" if u.tie else "") + f"; at most {clock / fastest[slow]:,.1f} chunks/s")

    def complete_use(folded) -> np.ndarray:
        tot = _complete_totals(folded, calibration, target)
        return np.array([getattr(tot, r) for r in RES])

    def with_plumbing(solve, margins):
        """The folding `solve(budget)` picks ((choice, use) or None), confirmed with the width converters
        and FIFOs the later passes add. Their cost depends on the folding, so it is measured on the
        trial and reserved (× the round's margin) from the budget for the next round. (folded or None,
        the budget reserved, the last trial's (choice, complete use) or None)."""
        reserve, last = np.zeros(len(RES)), None
        for margin in (*margins, None):
            found = solve(budget - reserve)
            if found is None:
                break
            choice, used = found
            trial = apply_configs(model, units, choice)
            complete = complete_use(trial)
            if np.all(complete <= budget + 1e-9):
                return trial, reserve, last
            last = (choice, complete)
            if margin is None:
                break
            reserve = np.maximum(reserve, (complete - used) * margin)
        return None, reserve, last

    if not fit:
        folded, _, last = with_plumbing(lambda room: best_choice(units, cycles_target, room), TARGET_PLUMBING_MARGINS)
        if folded is None and last is None:  # no folding fits even without the plumbing
            choice = [cheapest(u, cycles_target, budget) for u in units]
            used = sum(u.res[i] for u, i in zip(units, choice))
            raise _over_budget_error(f"the folding for {_fmt(cycles_target)} cycles per chunk", units, choice, used,
                                     budget, target, headroom)
        if folded is None:
            raise _over_budget_error(f"the folding for {_fmt(cycles_target)} cycles per chunk (with its FIFOs and "
                                     "width converters)", units, *last, budget, target, headroom)
        mode = "throughput"
    else:
        if best_choice(units, math.inf, budget) is None:
            minimum = [cheapest(u, math.inf, budget) for u in units]
            raise _over_budget_error("the design at its minimum folding", units, minimum,
                                     sum(u.res[i] for u, i in zip(units, minimum)), budget, target, headroom)
        candidates = cycle_targets(units)
        if cycles_target is not None:
            candidates = candidates[candidates <= cycles_target]
        fastest_index = {}

        def fastest_within(room):  # the fastest cycle target with a choice that fits (bisected)
            fastest_index["lo"], found = fastest_fit(units, candidates, room)
            return found

        folded, reserve, _ = with_plumbing(fastest_within, FIT_PLUMBING_MARGINS)
        if folded is None:
            if cycles_target is not None:
                raise FlowError(f"no folding reaching {_fmt(cycles_target)} cycles per chunk fits {target.name}; "
                                "drop the throughput target to get the fastest folding that fits")
            raise FlowError(f"no folding fits {target.name} once the FIFOs and width converters are added; "
                            "lower the headroom or the model size")
        limit = _limit(units, candidates, fastest_index["lo"], budget - reserve)
        mode = "fit"
    costs = E.estimate_graph(folded, calibration, target)
    bottleneck = max(costs, key=lambda n: costs[n].cycles)
    tot = _complete_totals(folded, calibration, target)
    folded.set_metadata_prop("rubicon_folding", json.dumps({
        "target": target.name, "mode": mode, "headroom": headroom, "cycles_target": cycles_target,
        "cycles_per_chunk": costs[bottleneck].cycles, "bottleneck": bottleneck,
        "chunks_per_s": clock / costs[bottleneck].cycles, "samples_per_s": clock / costs[bottleneck].cycles * samples,
        "estimate": {r: getattr(tot, r) for r in RES}, "budget": dict(zip(RES, budget.tolist())),
        "limited_by": limit if fit else None}))
    return folded


def folding_summary(model: ModelWrapper) -> dict | None:
    """The `rubicon_folding` metadata `set_folding` wrote, or None."""
    s = model.get_metadata_prop("rubicon_folding")
    return json.loads(s) if s else None


# ---------------------------------------------------------------- plumbing passes

def _next_index(model, op: str) -> int:
    used = [int(n.name.rsplit("_", 1)[1]) for n in model.graph.node
            if n.op_type == op and n.name.rsplit("_", 1)[-1].isdigit()]
    return max(used, default=-1) + 1


def _edge_attrs(model, tensor: str) -> dict:
    n, t, c = model.get_tensor_shape(tensor)
    dt = model.get_tensor_datatype(tensor).name
    return dict(numInputVectors=[int(n), int(t)], NumChannels=int(c), inputDataType=dt, outputDataType=dt)


def _new_tensor(model, like: str, name: str) -> str:
    model.set_tensor_shape(name, model.get_tensor_shape(like))
    model.set_tensor_datatype(name, model.get_tensor_datatype(like))
    return name


def insert_dwcs(model: ModelWrapper) -> ModelWrapper:
    """A StreamingDataWidthConverter on every edge whose producer word ≠ consumer word (identity
    on values; named StreamingDataWidthConverter_<k> in graph order)."""
    model = _copy(model)
    k = _next_index(model, "StreamingDataWidthConverter")
    new_nodes = []
    for node in list(model.graph.node):
        for i, tensor in enumerate(node.input):
            prod = model.find_producer(tensor) if tensor else None
            if prod is None or not _is_stream(model, tensor):
                continue
            w_out, w_in = out_word(prod, list(prod.output).index(tensor)), in_word(node, i)
            if w_out is None or w_in is None or w_out == w_in:
                continue
            name = f"StreamingDataWidthConverter_{k}"
            out = _new_tensor(model, tensor, f"{tensor}_dwc{k}")
            new_nodes.append(helper.make_node("StreamingDataWidthConverter", [tensor], [out], name=name, domain=DOMAIN,
                                              inWidth=int(w_out), outWidth=int(w_in), **_edge_attrs(model, tensor)))
            node.input[i] = out
            k += 1
        new_nodes.append(node)
    model.graph.ClearField("node")
    model.graph.node.extend(new_nodes)
    return model


def insert_fifos(model: ModelWrapper, depths: dict | None = None, default_depth: int = 2) -> ModelWrapper:
    """A StreamingFIFO on every stream edge between two nodes and on the graph input and output
    (edges that already touch a FIFO are left alone). Depth from `depths[(producer, consumer)]`
    (node names; None for the graph input/output side) or `depths[tensor name]`, else
    `default_depth`; PE = the edge's word. Named StreamingFIFO_<k> in graph order."""
    depths = depths or {}
    model = _copy(model)
    k = _next_index(model, "StreamingFIFO")
    gin = {t.name for t in model.graph.input}
    gout = {t.name for t in model.graph.output}

    def make(tensor, src, dst, word, rename_out: bool):
        nonlocal k
        name = f"StreamingFIFO_{k}"
        depth = depths.get((src.name if src else None, dst.name if dst else None), depths.get(tensor, default_depth))
        if int(depth) < 1:
            raise FlowError(f"FIFO depth for {tensor} must be ≥ 1 (got {depth})")
        inner = _new_tensor(model, tensor, f"{tensor}_fifo{k}")
        ins, outs = ([inner], [tensor]) if rename_out else ([tensor], [inner])
        node = helper.make_node("StreamingFIFO", ins, outs, name=name, domain=DOMAIN, depth=int(depth), PE=int(word),
                                **_edge_attrs(model, tensor))
        k += 1
        return node, inner

    new_nodes = []
    for node in list(model.graph.node):
        if node.op_type != "StreamingFIFO":
            for i, tensor in enumerate(node.input):
                if not tensor or model.get_initializer(tensor) is not None or not _is_stream(model, tensor):
                    continue
                prod = model.find_producer(tensor)
                if prod is not None and prod.op_type == "StreamingFIFO":
                    continue
                if prod is None and tensor not in gin:
                    continue
                w_in = in_word(node, i)
                w_out = out_word(prod, list(prod.output).index(tensor)) if prod is not None else w_in
                if w_in is None or w_out is None:
                    continue
                if w_in != w_out:
                    raise FlowError(f"{tensor}: {prod.name} writes words of {w_out} but {node.name} reads {w_in}; "
                                    "run insert_dwcs before insert_fifos")
                fifo, inner = make(tensor, prod, node, w_in, rename_out=False)
                new_nodes.append(fifo)
                node.input[i] = inner
        new_nodes.append(node)
    for tensor in gout:
        prod = next((n for n in new_nodes if tensor in n.output), None)
        if prod is None or prod.op_type == "StreamingFIFO" or not _is_stream(model, tensor):
            continue
        word = out_word(prod, list(prod.output).index(tensor))
        if word is None:
            continue
        fifo, inner = make(tensor, prod, None, word, rename_out=True)
        prod.output[list(prod.output).index(tensor)] = inner
        new_nodes.append(fifo)
    model.graph.ClearField("node")
    model.graph.node.extend(new_nodes)
    return model
