"""What a finished QABAS search's supernet thinks of given architectures.

Scores, inside the search's final shared weights, the derived architecture, the argmax of every
factor and each model YAML given (a chain of the space's shape, e.g. the scaled hand design),
each also with every searchable weight and activation bit-width raised to --raise-bits (where the
slot offers it): greedy accuracy and CTC loss on the search's first validation chunks, and the
build's LUT estimate at the search's throughput target; then each factor's probabilities per
slot. Why: the architecture step can only prefer wider bit-widths if the supernet's paths at
those widths score better; this shows whether they do, and whether the logits followed.

Usage: python bench/qabas_probe.py SEARCH_DIR DATASETS... [--models A.yaml ...] [--raise-bits 4]
           [--samples-per-s 2048000] [--headroom 0.15] [--chunks 64] [-o probe.json]
"""
import argparse
import json
import sys
from pathlib import Path

import torch

from flow.errors import FlowError
from flow.hw.cost import METRICS
from flow.nn.config import load_model_spec
from flow.search.derive import derived_spec, describe
from flow.search.hwcost import CostModel
from flow.search.search import score
from flow.search.select import derive, factor_probabilities
from flow.search.space import load_space
from flow.search.supernet import Supernet
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
    probabilities = factor_probabilities(net)
    print("factor probabilities per slot:")
    for i, row in enumerate(probabilities):
        print(f"  {i}: " + "  ".join(f"{f} " + " ".join(f"{k}:{v:.2f}" for k, v in p.items()) for f, p in row.items()))
    if args.out:
        args.out.write_text(json.dumps({"search": str(args.search), "step": state["step"], "rows": rows,
                                        "probabilities": probabilities}, indent=1))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FlowError as e:
        sys.exit(f"error: {e}")
