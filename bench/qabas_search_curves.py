"""How a QABAS search's architecture moved: per search_log.csv, the derived architecture's depth
(non-identity slots), the supernet's expected LUTs and the derived architecture's (dashed), and the weight step's losses (the sampled path,
and with --anchor the anchor path, dashed) against the step, one line per search.

Shows at a glance whether a search kept a network or drifted to the cheapest paths (identity
slots, "stem only"), e.g. reports/qabas/search_curves.png.

Usage: python bench/qabas_search_curves.py LABEL=DIR/search_log.csv ... -o PNG
"""
import argparse
import csv
from pathlib import Path


def depth(architecture: str) -> int:
    return 0 if architecture.startswith("(") else len(architecture.split())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", nargs="+", help="LABEL=path/to/search_log.csv")
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_depth, ax_lut, ax_loss) = plt.subplots(1, 3, figsize=(16, 4))
    for item in args.logs:
        label, _, path = item.rpartition("=")
        with open(path) as f:
            rows = list(csv.DictReader(f))
        steps = [int(r["step"]) for r in rows]
        ax_depth.plot(steps, [depth(r["architecture"]) for r in rows], label=label, drawstyle="steps-post")
        expected, = ax_lut.plot(steps, [float(r["exp_lut"]) for r in rows], label=f"{label}: expected")
        ax_lut.plot(steps, [float(r["lut"]) for r in rows], "--", color=expected.get_color(), label=f"{label}: derived")
        line, = ax_loss.plot(steps, [float(r["weight_loss"]) for r in rows], label=f"{label}: sampled path")
        if rows and rows[0].get("anchor_loss"):
            ax_loss.plot(steps, [float(r["anchor_loss"]) for r in rows], "--", color=line.get_color(),
                         label=f"{label}: anchor path")
    ax_depth.set(xlabel="search step", ylabel="searched layers in the derived architecture",
                 title="depth of the derived architecture")
    ax_lut.set(xlabel="search step", ylabel="LUT (estimate)",
               title="LUTs: supernet expected (Σ p·cost), derived (dashed)")
    ax_loss.set(xlabel="search step", ylabel="CTC loss (training batch)", title="weight-step losses")
    ax_lut.legend(fontsize=8)
    ax_loss.legend(fontsize=7)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"→ {args.out}")


if __name__ == "__main__":
    main()
