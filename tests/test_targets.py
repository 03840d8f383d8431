"""Target files load, validate, and an unknown name lists the available ones."""
from pathlib import Path

import pytest

from flow.errors import FlowError
from flow.hw.targets import available_targets, load_target, parse_target


def test_every_target_file_is_valid():
    names = available_targets()
    assert {"pynq-z2", "zcu104", "u250", "vck190"} <= set(names)
    for name in names:
        assert load_target(name).name == name


def test_pynq_z2_is_the_board_in_the_design():
    t = load_target("pynq-z2")
    assert t.part == "xc7z020clg400-1" and t.clock_mhz == 100
    assert t.resources == {"lut": 53200, "ff": 106400, "bram18": 280, "uram": 0, "dsp": 220}


def test_vck190_is_cost_model_only():
    t = load_target("vck190")
    assert not t.builds_hardware and t.aie["tiles"] == 400


def test_unknown_target_lists_the_available_ones():
    with pytest.raises(FlowError, match="pynq-z2.*vck190|available: .*pynq-z2"):
        load_target("pynq-z3")


@pytest.mark.parametrize("broken,match", [
    ({"resources": {"lut": 1}}, "resources"),
    ({"clock_mhz": -5}, "clock_mhz"),
    ({"flow": "quartus"}, "flow must be"),
])
def test_broken_target_files_are_named(broken, match):
    base = {"name": "x", "board": "b", "part": "p", "family": "f", "clock_mhz": 100, "flow": "vivado",
            "resources": {"lut": 1, "ff": 1, "bram18": 1, "uram": 0, "dsp": 1}, "interface": {}}
    with pytest.raises(FlowError, match=match) as err:
        parse_target(base | broken, "targets/x.yaml")
    assert "targets/x.yaml" in str(err.value)


BASE = {"name": "x", "board": "b", "part": "p", "family": "f", "clock_mhz": 100, "flow": "vivado",
        "resources": {"lut": 1, "ff": 1, "bram18": 1, "uram": 0, "dsp": 1}, "interface": {}}


@pytest.mark.parametrize("broken,match", [
    ({"part": "xc7z020clg400-1} ; exec rm -rf ~ ;{"}, "part must be"),
    ({"part": "xc7z020\nexec ls"}, "part must be"),
    ({"board": "PYNQ*}] ; exec ls"}, "board must be"),
    ({"name": "../../etc"}, "name must be"),
    ({"name": 'x"""\nimport os'}, "name must be"),
    ({"family": 7}, "family must be"),
    ({"clock_mhz": "100"}, "clock_mhz"),
    ({"clock_mhz": True}, "clock_mhz"),
    ({"resources": {"lut": True, "ff": 1, "bram18": 1, "uram": 0, "dsp": 1}}, "resources"),
    ({"resources": [1, 2]}, "resources"),
    ({"interface": {"ps": "zynq7; exec ls"}}, "interface.ps"),
    ({"interface": {"axis_bits": 60}}, "axis_bits"),
    ({"interface": "axi"}, "interface must be"),
    ({"clokc_mhz": 100}, "unknown field"),
    ({"flow": "cost-model-only", "aie": {"tiles": "many"}}, "aie"),
])
def test_target_fields_are_checked_against_the_schema(broken, match):
    with pytest.raises(FlowError, match=match) as err:
        parse_target(BASE | broken, "my.yaml")
    assert str(err.value).startswith("my.yaml: ")


@pytest.mark.parametrize("field", ["name", "board", "part", "family", "clock_mhz", "resources", "interface", "flow"])
def test_a_missing_field_is_named(field):
    with pytest.raises(FlowError, match=f"misses {field}"):
        parse_target({k: v for k, v in BASE.items() if k != field}, "my.yaml")


def test_a_target_built_in_code_is_checked_too():
    good = parse_target(BASE)
    with pytest.raises(FlowError, match="part"):
        type(good)(**{**vars(good), "part": "x} ; exec ls ;{"})


def test_explicit_target_files_and_nothing_else(tmp_path, monkeypatch):
    import yaml

    import flow.hw.targets as T

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(T, "TARGETS_DIR", tmp_path / "targets")
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets/shipped.yaml").write_text(yaml.safe_dump(BASE | {"name": "shipped"}))
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(BASE | {"name": "mine"}))
    assert load_target("shipped").name == "shipped"
    assert load_target("mine.yaml").name == "mine" and load_target(tmp_path / "mine.yaml").source == tmp_path / "mine.yaml"
    assert load_target("./mine.yaml").name == "mine"
    for name in ("../mine", "mine", "shipped/../../mine", "targets/../mine"):  # a name never reaches outside targets/
        with pytest.raises(FlowError, match="unknown target|does not exist"):
            load_target(name)
    (tmp_path / "x.yaml").write_text("anything: at all\n")
    with pytest.raises(FlowError, match="x.yaml: target file misses"):
        load_target("x.yaml")  # an explicit file is read, and validated
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(FlowError, match="bad.yaml: not valid YAML"):
        load_target("bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(FlowError, match="list.yaml: a target file is a mapping"):
        load_target("list.yaml")


def test_a_build_folds_for_a_target_file_of_the_users(tiny_basecaller, tmp_path, monkeypatch):
    """An explicit target file (not in targets/) folds with calibration factors of 1.0, keys the fold
    stage on that file, and the default build folder is named by the target's and model's stems."""
    import yaml

    from flow.build.pipeline import Build, BuildConfig
    from flow.hw.targets import TARGETS_DIR
    from flow.nn.checkpoint import save_model

    board = yaml.safe_load((TARGETS_DIR / "pynq-z2.yaml").read_text()) | {"name": "my-board"}
    (tmp_path / "boards").mkdir()
    target_file = tmp_path / "boards" / "my-board.yaml"
    target_file.write_text(yaml.safe_dump(board))
    save_model(tiny_basecaller, tmp_path / "tiny.pt")
    monkeypatch.chdir(tmp_path)
    cfg = BuildConfig(model=str(tmp_path / "tiny.pt"), target=str(target_file), chunk_len=312)
    assert cfg.build_dir == Path("build") / "my-board" / "tiny"
    b = Build(cfg)
    assert not b.shipped_target and not b.calibration().factors
    b.export()
    b.lower()
    b.fold()
    assert (cfg.build_dir / "folded.onnx").exists()
    key = b.manifest.data["stages"]["fold"]["key"]
    target_file.write_text(yaml.safe_dump(board | {"clock_mhz": 90}))  # the fold stage is keyed on the file
    again = Build(cfg)
    again.export()
    again.lower()
    again.fold()
    assert again.manifest.data["stages"]["fold"]["key"] != key
    with pytest.raises(FlowError, match="no_such_model"):
        Build(BuildConfig(model="no_such_model", target=str(target_file), out=tmp_path / "never"))
    assert not (tmp_path / "never").exists()
