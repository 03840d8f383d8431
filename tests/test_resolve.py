"""One model resolver: a model argument names an existing file, or a shipped model by plain name."""
from pathlib import Path

import pytest
import torch
import yaml

import flow.nn.resolve as R
from flow.errors import FlowError
from flow.nn.checkpoint import load_model, save_model
from flow.nn.config import load_model_spec, parse_model
from flow.nn.model import build_model

SPEC = {"name": "m", "layers": [{"type": "conv", "channels": 4, "kernel": 3, "weight_bits": 8, "act_bits": 4}]}


@pytest.fixture
def models(tmp_path, monkeypatch):
    """A models/ folder of its own: `both` has weights and a YAML, `spec_only` a YAML alone."""
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setattr(R, "MODELS_DIR", folder)
    for name in ("both", "spec_only"):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(SPEC | {"name": name}))
    torch.manual_seed(0)
    save_model(build_model(parse_model(SPEC | {"name": "both"})), folder / "both.pt")
    return folder


def test_a_shipped_name_prefers_weights_and_the_spec_reader_takes_the_yaml(models):
    assert R.resolve_model("both") == models / "both.pt"
    assert R.resolve_model("both", (".yaml",)) == models / "both.yaml"
    assert R.resolve_model("spec_only") == models / "spec_only.yaml"
    assert load_model("both")[0].spec.name == "both"               # the weights
    assert load_model_spec("both").source == str(models / "both.yaml")  # the spec
    with pytest.raises(FlowError, match="spec_only.yaml: a model YAML without trained weights"):
        load_model("spec_only")


def test_an_existing_file_is_taken_as_given(models, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert R.resolve_model("models/both.pt") == Path("models/both.pt")
    assert load_model_spec("models/spec_only.yaml").name == "spec_only"
    with pytest.raises(FlowError, match="is a directory"):
        R.resolve_model("models")


@pytest.mark.parametrize("name", ["../models/both", "both/../both", "sub/both", ".both", "-both"])
def test_a_name_never_reaches_outside_models(models, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path / "models")  # so that none of these exists as a file relative to here either
    (tmp_path / "models/sub").mkdir()
    with pytest.raises(FlowError, match="not found as a file or in .* \\(available: both, spec_only\\)"):
        R.resolve_model(name)
