"""What a finished QABAS search's supernet thinks of given architectures.

Scores, inside the search's final shared weights, the derived architecture, the argmax of every
factor and each model YAML given (a chain of the space's shape, e.g. the scaled hand design),
each also with every searchable weight and activation bit-width raised to --raise-bits (where the
slot offers it): greedy accuracy and CTC loss on the search's first validation chunks, and the
build's LUT estimate at the search's throughput target; then each factor's probabilities per
slot. Why: the architecture step can only prefer wider bit-widths if the supernet's paths at
those widths score better; this shows whether they do, and whether the logits followed.

With --bit-signal N: on N validation batches of 16, for the derived architecture, each slot's
weight and activation bit-widths as the architecture step sees them (the gradient to each
bit-width's gate, minus the chosen one's: the first-order loss change of switching to it) against
the loss change measured by switching that slot to it, both averaged over the batches. Why: the
step can rank bit-widths only if the first sign follows the second.

Usage: python bench/qabas_probe.py SEARCH_DIR DATASETS... [--models A.yaml ...] [--raise-bits 4]
           [--samples-per-s 2048000] [--headroom 0.15] [--chunks 64] [--bit-signal 4] [-o probe.json]
"""
import argparse
import itertools
import json
from pathlib import Path

import torch

from flow.errors import FlowError, run_script
from flow.hw.cost import METRICS
from flow.nn.config import load_model_spec
from flow.search.derive import derived_spec, describe
from flow.search.hwcost import CostModel
from flow.search.search import score
from flow.search.select import derive, factor_probabilities
from flow.search.space import load_space
from flow.search.supernet import Supernet, batch_statistics_only
from flow.search.warmstart import model_choices
from flow.train.ctc import total_ctc_loss
from flow.train.trainer import TrainConfig, _Data


def raised(space, choices: list[dict], bits: int) -> list[dict]:
    """Every non-identity slot's weight and activation bits at `bits` where the slot offers it."""
    out = []
    for slot, ch in zip(space.slots, choices):
        ch = dict(ch)
        if slot.ops[ch["op"]][0] != "identity":
            for f in ("weight_bits", "act_bits"):
                if bits in slot.factors[f]:
                    ch[f] = slot.factors[f].index(bits)
        out.append(ch)
    return out


def bit_signal(net: Supernet, data, choices: list[dict], batches: int) -> list[dict]:
    """Per non-identity slot and bit factor, per bit-width: the mean gate-gradient difference to the
    chosen bit-width and the mean measured loss change (BatchNorm on batch statistics, running ones
    untouched, as `score`)."""
    space = net.space
    batches = min(batches, len(data.valid) // 16)
    if batches < 1:
        raise FlowError(f"--bit-signal needs 16 validation chunks; the datasets hold out {len(data.valid)}")
    live = [i for i, (slot, ch) in enumerate(zip(space.slots, choices)) if slot.ops[ch["op"]][0] != "identity"]
    sums: dict = {}
    with batch_statistics_only(net):
        for start in range(0, batches * 16, 16):
            x, y, lengths, _ = data.tensors(data.valid[start:start + 16])
            gates = [{f: g.clone().requires_grad_(len(g) > 1) for f, g in slot.items()} for slot in net.fixed(choices)]
            net.zero_grad(set_to_none=True)
            base = total_ctc_loss(net(x, choices, gates), y, lengths)
            base.backward()
            for i in live:
                for f in ("weight_bits", "act_bits"):
                    grad, chosen = gates[i][f].grad, choices[i][f]
                    if grad is None:
                        continue
                    for b, bits in enumerate(space.slots[i].factors[f]):
                        switched = [dict(c) for c in choices]
                        switched[i][f] = b
                        measured = 0.0  # the chosen bit-width: no switch to measure
                        if b != chosen:
                            with torch.no_grad():
                                measured = total_ctc_loss(net(x, switched, net.fixed(switched)), y, lengths) - base
                        entry = sums.setdefault((i, f, bits), [0.0, 0.0])
                        entry[0] += float(grad[b] - grad[chosen]) / batches
                        entry[1] += float(measured) / batches
    return [{"slot": i, "factor": f, "bits": bits, "first_order": a, "measured": m} for (i, f, bits), (a, m) in sums.items()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("search", type=Path, help="a rubicon search output folder (checkpoint.pt)")
    ap.add_argument("datasets", type=Path, nargs="+", help="the search's datasets, in its order")
    ap.add_argument("--models", nargs="*", default=[], help="model YAMLs of the space's shape to score (their "
                    "layers fill the slots in order, so a model whose dropped layers were not the last ones is refused)")
    ap.add_argument("--raise-bits", type=int, default=4)
    ap.add_argument("--chunks", type=int, default=64)
    ap.add_argument("--valid-chunks", type=int, default=200, help="as the search was run")
    ap.add_argument("--samples-per-s", type=float, help="as the search was run")
    ap.add_argument("--headroom", type=float, default=0.15, help="as the search was run")
    ap.add_argument("--chunk-len", type=int, default=4200, help="as the search was run")
    ap.add_argument("--bit-signal", type=int, default=0, metavar="BATCHES",
                    help="also compare the bit-width gradients with measured loss changes on this many batches")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("-o", "--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    state = torch.load(args.search / "checkpoint.pt", map_location="cpu", weights_only=True)
    meta = state["meta"]
    space = load_space(meta["space"])
    net = Supernet(space)
    net.load_state_dict(state["net"])
    costs = CostModel(space, meta["target"], chunk_len=args.chunk_len, samples_per_s=args.samples_per_s,
                      headroom=args.headroom)
    if costs.cycles_target != meta["cycles_target"] or costs.budget.tolist() != meta["budget"]:
        raise FlowError(f"{args.search}: searched for {meta['cycles_target']} cycles per chunk and budget {meta['budget']}; "
                        "give the search's --samples-per-s, --headroom and --chunk-len")
    data = _Data(list(args.datasets), TrainConfig(batch_size=16, valid_chunks=args.valid_chunks, seed=meta["config"]["seed"]))

    candidates = {"derived": derive(net, costs, meta["config"]["beam"])[0], "argmax": net.derived()}
    candidates |= {Path(m).stem: model_choices(space, load_model_spec(m)) for m in args.models}
    candidates |= {f"{name}, bits {args.raise_bits}": raised(space, ch, args.raise_bits) for name, ch in list(candidates.items())}
    rows = []
    print(f"{args.search} at step {state['step']}, first {args.chunks} validation chunks:")
    for name, choices in candidates.items():
        row = {"name": name, "architecture": describe(derived_spec(space, choices))}
        row |= score(net, data, choices, args.chunks, total_ctc_loss, "cpu")
        row |= {"lut": float(costs.network(costs.one_hot(choices), choices)[METRICS.index("lut")])}
        rows.append(row)
        print(f"  {name:28s} accuracy {100 * row['accuracy']:5.1f}%  loss {row['valid_loss']:.3f}  "
              f"LUT {row['lut']:>9,.0f}  {row['architecture']}", flush=True)
    signal = bit_signal(net, data, candidates["derived"], args.bit_signal) if args.bit_signal else []
    if signal:
        print(f"bit-widths of the derived architecture, {args.bit_signal} batches: first-order (gate gradient) / "
              "measured loss change of switching a slot to each bit-width:")
        for (i, f), rows_if in itertools.groupby(signal, key=lambda r: (r["slot"], r["factor"])):
            rows_if = list(rows_if)
            others = [r for r in rows_if if r["measured"] != 0]  # the chosen bit-width measures 0
            agree = sum((r["first_order"] > 0) == (r["measured"] > 0) for r in others)
            print(f"  slot {i} {f:11s} " + "  ".join(f"{r['bits']}:{r['first_order']:+.4f}/{r['measured']:+.4f}"
                                                      for r in rows_if) + f"   (signs agree {agree}/{len(others)})")
    probabilities = factor_probabilities(net)
    print("factor probabilities per slot:")
    for i, row in enumerate(probabilities):
        print(f"  {i}: " + "  ".join(f"{f} " + " ".join(f"{k}:{v:.2f}" for k, v in p.items()) for f, p in row.items()))
    if args.out:
        args.out.write_text(json.dumps({"search": str(args.search), "step": state["step"], "rows": rows,
                                        "probabilities": probabilities, "bit_signal": signal}, indent=1))
    return 0


if __name__ == "__main__":
    run_script(main, "qabas_probe.py")
