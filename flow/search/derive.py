"""From architecture choices to an ordinary model YAML, and the Pareto data of a search.

The derived model is the stem, one layer per non-identity slot (its argmax op, width and
bit-widths), and the head: the same format as models/*.yaml, validated by the model schema, so
it trains, exports, lowers and builds like any hand-written model.
"""
import csv
import json
from pathlib import Path

import yaml

from flow.nn.config import LayerSpec, ModelSpec, parse_model
from flow.search.space import IDENTITY, SearchSpace

PARETO_FIELDS = ("step", "architecture", "accuracy", "lut", "bram18", "dsp", "cycles", "effective_samples_per_s",
                 "lut_fraction", "bram18_fraction", "dsp_fraction")


def derived_spec(space: SearchSpace, choices: list[dict], name: str | None = None) -> ModelSpec:
    layers = [space.stem]
    for slot, ch in zip(space.slots, choices):
        kind, kernel = slot.ops[ch["op"]]
        if (kind, kernel) == IDENTITY:
            continue
        layers.append(LayerSpec(type=kind, channels=slot.channels[ch["channels"]], kernel=kernel,
                                groups="depthwise" if kind == "separable" else 1,
                                weight_bits=slot.weight_bits[ch["weight_bits"]], act_bits=slot.act_bits[ch["act_bits"]]))
    spec = ModelSpec(name=name or space.name, layers=layers, input_bits=space.input_bits,
                     head_weight_bits=space.head_weight_bits, classes=space.classes,
                     description=f"derived by rubicon search from {Path(space.source).name}")
    return parse_model(spec.to_dict(), f"derived from {space.source}")  # the schema checks what we write


OP_SHORT = {"separable": "sep", "conv": "conv", "identity": "identity"}  # the op names the logs and reports use


def describe(spec: ModelSpec) -> str:
    """A compact one-line architecture: sep15x96w4a4 conv7x64w6a4 ... (stem and head omitted)."""
    return " ".join(f"{OP_SHORT[l.type]}{l.kernel}x{l.channels}w{l.weight_bits}a{l.act_bits}" for l in spec.layers[1:]) \
        or "(stem only)"


def write_model_yaml(spec: ModelSpec, path: Path, header: str = "") -> Path:
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    tmp.write_text(comment + yaml.safe_dump(spec.to_dict(), sort_keys=False, default_flow_style=None))
    tmp.replace(path)
    return path


def pareto_front(rows: list[dict], better=("accuracy",), cheaper=("lut", "bram18", "dsp", "cycles")) -> list[dict]:
    """Rows not dominated by another (at least as good everywhere, strictly better somewhere)."""
    def dominates(a, b):
        ge = all(a[k] >= b[k] for k in better) and all(a[k] <= b[k] for k in cheaper)
        gt = any(a[k] > b[k] for k in better) or any(a[k] < b[k] for k in cheaper)
        return ge and gt
    return [r for r in rows if not any(dominates(o, r) for o in rows if o is not r)]


def latest_per_architecture(rows: list[dict]) -> list[dict]:
    """One row per distinct architecture: its latest evaluation."""
    return list({r["architecture"]: r for r in rows}.values())


def write_pareto(rows: list[dict], out_dir: Path, title: str, extra_points: list[dict] | None = None) -> dict:
    """pareto.csv (every evaluation), pareto.json (distinct architectures, front flagged), pareto.png."""
    out_dir = Path(out_dir)
    with open(out_dir / "pareto.csv.partial", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=PARETO_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    (out_dir / "pareto.csv.partial").replace(out_dir / "pareto.csv")
    points = latest_per_architecture(rows)
    front = pareto_front(points)
    data = {"points": [p | {"pareto": p in front} for p in points], "extra": extra_points or []}
    (out_dir / "pareto.json").write_text(json.dumps(data, indent=1))
    plot_pareto(data["points"], out_dir / "pareto.png", title, extra_points)
    return data


def plot_pareto(points: list[dict], path: Path, title: str, extra_points: list[dict] | None = None) -> None:
    """Accuracy against LUT, BRAM, DSP and effective throughput; the front joined; extra points
    (hand-designed references) as labelled crosses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes_keys = [("lut", "LUT"), ("bram18", "BRAM18"), ("dsp", "DSP"), ("effective_samples_per_s", "effective samples/s")]
    fig, axes = plt.subplots(1, 4, figsize=(16, 4), sharey=True)
    for ax, (key, label) in zip(axes, axes_keys):
        xs = [p[key] for p in points]
        ax.scatter(xs, [p["accuracy"] for p in points], s=14, c=["C3" if p.get("pareto") else "C0" for p in points],
                   label="searched (red: Pareto)")
        for e in extra_points or []:
            ax.scatter([e[key]], [e["accuracy"]], marker="x", s=60, c="k")
            ax.annotate(e.get("label", ""), (e[key], e["accuracy"]), fontsize=7)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
