"""Names from user files stay data in everything codegen writes: the PYNQ driver (Python), the
Vitis HLS / Vivado scripts (Tcl) and the C++ sources. Each generator gets injection payloads in
the model name, node and tensor names, and target fields; the generated file must parse, and
the payload must not be code in it (compared with the file a plain name gives)."""
import ast
import dataclasses
import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch

from flow.codegen.compile import ap_types_dir
from flow.codegen.driver import driver_source, model_constants
from flow.codegen.network import build_network
from flow.codegen.project import write_sources
from flow.codegen.vendor import write_hls_tcl, write_vivado_tcl
from flow.errors import FlowError
from flow.hw.targets import load_target

CHUNK = 96
MARK = "touch PWNED"  # what every payload would run
PAYLOADS = [
    f'tiny"""\nimport os; os.system("{MARK}")\n"""',
    f"tiny'''\nimport os; os.system('{MARK}')\n'''",
    f'tiny" + __import__("os").system("{MARK}") + "',
    f"tiny\\\n[exec {MARK}]",                   # Tcl: a backslash continues a comment onto the next line
    f"tiny}} ; exec {MARK} ; {{",                 # Tcl: close a brace word
    f"tiny\n exec {MARK}\n# ",                    # Tcl: a newline ends the comment
    f"@BEATS@ @MODEL_REPR@ $env(HOME) \\N{{bad}} {MARK}",  # template keys, Tcl variable, a bad Python escape
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small lowered basecaller (strided conv + head) at the default folding."""
    from flow.export.qonnx_export import export_model
    from flow.ir.lower import lower_qonnx
    from flow.nn.config import parse_model
    from flow.nn.model import build_model

    spec = parse_model({"name": "tiny", "input": {"act_bits": 8}, "head": {"classes": 5, "weight_bits": 8}, "layers": [
        {"type": "conv", "channels": 6, "kernel": 5, "stride": 2, "weight_bits": 8, "act_bits": 4}]})
    torch.manual_seed(0)
    return lower_qonnx(export_model(build_model(spec).eval(), tmp_path_factory.mktemp("tiny") / "m.onnx", CHUNK))


def _skeleton(tree: ast.AST) -> str:
    """The module's AST with every string constant blanked: its code, without its data."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
    return ast.dump(tree)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_driver_keeps_the_model_name_a_string(tiny, tmp_path, payload, monkeypatch):
    net, target = build_network(tiny), load_target("pynq-z2")
    plain = driver_source(net, target, model_name="tiny", **model_constants(tiny))
    text = driver_source(net, target, model_name=payload, **model_constants(tiny))
    tree = ast.parse(text)  # parses: no docstring broken open
    model = next(n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "MODEL")
    assert ast.literal_eval(model) == payload  # the name itself survives, as data
    assert _skeleton(tree) == _skeleton(ast.parse(plain))  # the same code; only string constants differ
    # and importing it runs nothing (pynq blocked: the module must load without it)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "drv.py").write_text(text)
    monkeypatch.setitem(sys.modules, "pynq", None)
    spec = importlib.util.spec_from_file_location("escaping_driver", tmp_path / "drv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.MODEL == payload and not (tmp_path / "PWNED").exists()


def test_driver_refuses_non_finite_scales(tiny):
    consts = model_constants(tiny) | {"logit_scale": np.full(5, np.inf)}
    with pytest.raises(FlowError, match="not finite"):
        driver_source(build_network(tiny), load_target("pynq-z2"), model_name="tiny", **consts)


def _tcl_lines_differ_only_in_comments(plain: str, text: str) -> None:
    a, b = plain.splitlines(), text.splitlines()
    assert len(a) == len(b), "the name added or removed lines"
    for x, y in zip(a, b):
        if x != y:
            assert x.startswith("#") and y.startswith("#"), f"a non-comment line changed: {y!r}"
            assert not set(y) & set("\\[]{}$;\"@"), f"a Tcl-active character in a comment: {y!r}"


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("target_name", ["pynq-z2", "zcu104", "u250"])
def test_tcl_and_cfg_keep_the_model_name_in_comments(tiny, tmp_path, payload, target_name):
    import tkinter

    net, target = build_network(tiny), load_target(target_name)
    for write in (write_hls_tcl, write_vivado_tcl):
        plain = write(tmp_path / "plain", net, target, "tiny").read_text()
        text = write(tmp_path / "evil", net, target, payload).read_text()
        _tcl_lines_differ_only_in_comments(plain, text)
        assert all(line.startswith("#") for line in text.splitlines() if MARK in line)  # only ever in a comment
        if write is write_hls_tcl or target.flow == "vivado":
            assert tkinter.Tcl().eval(f"info complete {{{text}}}") == "1"  # braces balance: one script


@pytest.mark.parametrize("field,value", [("part", "xc7z020clg400-1} ; exec touch PWNED ; {"), ("board", "PYNQ*}] ; exec ls ; [{"),
                                         ("name", "pynq\nexec ls"), ("part", "xc7z020\\"), ("family", "zynq$x")])
def test_target_fields_cannot_carry_tcl(field, value):
    with pytest.raises(FlowError, match=field):
        dataclasses.replace(load_target("pynq-z2"), **{field: value})


def _renamed(model, payloads: list[str]):
    """A copy of the graph whose node and tensor names carry the payloads (in turn, numbered)."""
    from qonnx.core.modelwrapper import ModelWrapper

    m = ModelWrapper(model.model.SerializeToString())
    tensors = sorted({t for n in m.graph.node for t in (*n.input, *n.output)} | {i.name for i in m.graph.input})
    for i, t in enumerate(tensors):
        m.rename_tensor(t, f"{payloads[i % len(payloads)]}{i}")
    for i, node in enumerate(m.graph.node):
        node.name = f"{payloads[i % len(payloads)]}{i}"
    return m


CPP_PAYLOADS = ['x"); system("touch PWNED"); //', "x */ int evil; /*", "x\n#include </etc/passwd>\n", "x\\", "9 lives"]


def test_cpp_keeps_node_and_tensor_names_out_of_the_code(tiny, tmp_path):
    net = write_sources(_renamed(tiny, CPP_PAYLOADS), tmp_path)
    sources = {p.name: p.read_text() for p in tmp_path.glob("*.cpp")} | {"network.h": (tmp_path / "network.h").read_text()}
    for name, text in sources.items():
        for fragment in ('system("', "*/ int", "#include </etc", "x\\\n", "x\\"):  # the names' code-like parts
            assert fragment not in text, f"{fragment!r} reached {name}"
    assert len(net.kernels) == len(tiny.graph.node)
    # and the sources still compile: the names became identifiers, nothing else
    cmd = ["g++", "-std=c++17", "-fsyntax-only", f"-I{tmp_path}", f"-I{tmp_path / 'kernels'}",
           "-isystem", str(ap_types_dir()), str(tmp_path / "tb_csim.cpp"), str(tmp_path / "cyclesim.cpp")]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_two_names_that_sanitise_alike_are_refused(tiny, tmp_path):
    m = _renamed(tiny, ["n"])
    m.graph.node[0].name, m.graph.node[1].name = "conv.0", "conv_0"
    with pytest.raises(FlowError, match="'conv.0' and 'conv_0' both become the C\\+\\+ name conv_0"):
        build_network(m)
    m.graph.node[0].name = "input_adapter"
    with pytest.raises(FlowError, match="input_adapter"):
        build_network(m)


@pytest.mark.parametrize("dtype", ["INT8> x; int y<8", "FOO", "INT0"])
def test_a_data_type_attribute_is_looked_up_not_pasted(tiny, dtype):
    from qonnx.custom_op.registry import getCustomOp

    m = _renamed(tiny, ["n"])
    getCustomOp(m.graph.node[0]).set_nodeattr("inputDataType", dtype)
    with pytest.raises(FlowError, match="data type"):
        build_network(m)
