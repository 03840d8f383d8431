"""Target files load, validate, and an unknown name lists the available ones."""
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
