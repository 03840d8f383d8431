"""Ship a trained model under a name in models/: models/NAME.yaml (its layout, with a header saying
where it comes from) and models/NAME.pt (the weights, the spec renamed), so `rubicon build --model
NAME` and `load_model(NAME)` find it. Refuses to overwrite a shipped model unless --replace.

Usage: python bench/ship_model.py TRAINED.pt NAME --header "what it is, how it was made" [--replace]
"""
import argparse
import re

from flow.errors import FlowError, run_script
from flow.nn.checkpoint import load_model, save_model
from flow.paths import MODELS_DIR
from flow.search.derive import describe, write_model_yaml


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a trained model file (rubicon train's model.pt)")
    ap.add_argument("name", help="the name it ships under in models/")
    ap.add_argument("--header", required=True, help="the YAML's comment: what the model is and how it was made")
    ap.add_argument("--replace", action="store_true", help="overwrite a model already shipped under NAME")
    args = ap.parse_args()
    if not re.fullmatch(r"[A-Za-z0-9_]+", args.name):
        raise FlowError(f"{args.name!r}: a shipped model's name is letters, digits and underscores")
    yaml_path, weights = MODELS_DIR / f"{args.name}.yaml", MODELS_DIR / f"{args.name}.pt"
    if not args.replace and (yaml_path.exists() or weights.exists()):
        raise FlowError(f"models/{args.name} is shipped already; pass --replace to overwrite it")
    model, meta = load_model(args.model)
    model.spec.name = args.name
    write_model_yaml(model.spec, yaml_path, args.header)  # both files are written whole (a temporary, then renamed)
    save_model(model, weights, (meta or {}) | {"shipped_from": str(args.model)})
    print(f"{args.name}: {describe(model.spec)} → {yaml_path}, {weights}")


if __name__ == "__main__":
    run_script(main, "ship_model.py")
