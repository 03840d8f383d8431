"""Vendor-tool scripts and the PYNQ driver: contents, errors, and the driver's whole data path
against a fake PYNQ that replays the C-simulation of the generated accelerator: the driver's input
beats must be those the C++ consumed, and its logits, unpacked from the C++'s output beats, must
equal the golden model's (no Xilinx tools, no board)."""
import copy
import importlib.util
import logging
import os
import shutil
import stat
import subprocess
import sys
import types

import numpy as np
import pytest
import torch

from conftest import TINY_CHUNK
from flow.codegen import beats
from flow.codegen import vendor
from flow.codegen.driver import model_constants, write_driver
from flow.codegen.network import build_network
from flow.codegen.vendor import dma_plan, run_vendor_flow, vendor_paths, vendor_tools, write_hls_tcl, write_vivado_tcl
from flow.errors import FlowError
from flow.hw.fold import insert_dwcs
from flow.hw.targets import load_target
from flow.ir.golden import quantize_input

logging.getLogger("torch.onnx").setLevel(logging.ERROR)
CHUNK = 96


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small lowered basecaller (strided conv + head) and its network at the default folding."""
    from flow.export.qonnx_export import export_model
    from flow.ir.lower import lower_qonnx
    from flow.nn.config import parse_model
    from flow.nn.model import build_model

    spec = parse_model({"name": "tiny", "input": {"act_bits": 8}, "head": {"classes": 5, "weight_bits": 8}, "layers": [
        {"type": "conv", "channels": 6, "kernel": 5, "stride": 2, "weight_bits": 8, "act_bits": 4}]})
    torch.manual_seed(0)
    model = lower_qonnx(export_model(build_model(spec).eval(), tmp_path_factory.mktemp("tiny") / "m.onnx", CHUNK))
    return model, build_network(model)


@pytest.fixture
def driver_module(tiny, tmp_path):
    return _load_driver(*tiny, tmp_path)


def _load_driver(model, net, tmp_path):
    """The generated driver, imported from its file with `import pynq` made to fail."""
    return _import_driver(write_driver(tmp_path, net, load_target("pynq-z2"), model_name="tiny", **model_constants(model)))


def test_hls_tcl_names_part_clock_top_and_vectors(tiny, tmp_path):
    _, net = tiny
    tcl = write_hls_tcl(tmp_path, net, load_target("pynq-z2"), "tiny").read_text()
    assert "set_part {xc7z020clg400-1}" in tcl
    assert "create_clock -period 10.000" in tcl
    assert "set_top rubicon_top" in tcl
    assert "add_files top.cpp -cflags $cflags" in tcl and "-std=c++14" in tcl and "-I [file normalize kernels]" in tcl
    assert "$vectors/input_beats.npy" in tcl and "set vectors [file normalize ../vectors]" in tcl
    for step in ("csim_design", "csynth_design", "cosim_design", "export_design -format ip_catalog"):
        assert step in tcl
    assert "set steps {csim csynth export}" in tcl and "RUBICON_HLS_STEPS" in tcl
    tb = (tmp_path / "hls" / "tb_hls.cpp").read_text()  # the testbench Vitis links beside top.cpp
    assert '#include "top.cpp"' not in tb and "void rubicon_top(hls::stream<beat_in_t> &in" in tb
    assert "add_files -tb tb_hls.cpp" in tcl
    zcu = write_hls_tcl(tmp_path / "z", net, load_target("zcu104")).read_text()
    assert "create_clock -period 5.000" in zcu and "xczu7ev-ffvc1156-2-e" in zcu


def test_vivado_tcl_block_design(tiny, tmp_path):
    _, net = tiny
    tcl = write_vivado_tcl(tmp_path, net, load_target("pynq-z2"), "tiny").read_text()
    assert tcl.count("xc7z020clg400-1") >= 2
    for needle in ("xilinx.com:ip:processing_system7", "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {100}",
                   "CONFIG.PCW_USE_S_AXI_HP0 {1}", "CONFIG.PCW_USE_M_AXI_GP0 {1}", "xilinx.com:ip:axi_dma",
                   "CONFIG.c_include_sg {0}", f"CONFIG.c_m_axis_mm2s_tdata_width {{{net.in_beat_bits}}}",
                   "CONFIG.c_s_axis_s2mm_tdata_width {32}", "NAME == rubicon_top", "proc_sys_reset",
                   "validate_bd_design", "make_wrapper", "write_bitstream", "report_utilization -file reports/utilization.rpt",
                   "report_utilization -hierarchical -file reports/utilization_hier.rpt", "report_timing_summary",
                   "../driver/rubicon.bit", "../driver/rubicon.hwh", "../hls/rubicon_hls/sol1/impl/ip", "*pynq-z2*"):
        assert needle in tcl, needle
    plan = dma_plan(net)
    assert f"CONFIG.c_sg_length_width {{{plan.length_bits}}}" in tcl
    assert (1 << plan.length_bits) > plan.batch_chunks * plan.in_bytes and plan.length_bits <= 26
    zcu = write_vivado_tcl(tmp_path / "z", net, load_target("zcu104")).read_text()
    assert "xilinx.com:ip:zynq_ultra_ps_e" in zcu and "PL0_REF_CTRL__FREQMHZ {200}" in zcu and "S_AXI_HP0_FPD" in zcu
    assert "processing_system7" not in zcu


def test_alveo_gets_a_link_config_and_cost_model_targets_raise(tiny, tmp_path):
    _, net = tiny
    cfg = write_vivado_tcl(tmp_path, net, load_target("u250"), "tiny")
    assert cfg == vendor_paths(tmp_path)["vitis_cfg"]
    text = cfg.read_text()
    assert "stream_connect=mm2s_1.out:rubicon_top_1.in" in text and "freqHz=250000000:rubicon_top_1" in text
    assert "no block design" in text
    assert "export_design -format xo" in write_hls_tcl(tmp_path, net, load_target("u250")).read_text()
    with pytest.raises(FlowError, match="vck190 is cost-model only"):
        write_vivado_tcl(tmp_path, net, load_target("vck190"))
    with pytest.raises(FlowError, match="cost-model only"):
        write_hls_tcl(tmp_path, net, load_target("vck190"))


def test_driver_imports_without_pynq_and_packs_like_the_flow(driver_module, tiny):
    d = driver_module
    _, net = tiny
    assert (d.CHUNK_SAMPLES, d.OUT_FRAMES, d.CLASSES, d.IN_BEAT_BITS) == (net.chunk_samples, net.out_frames, net.classes, 64)
    assert d.IN_BEATS == net.chunk_samples * 8 // 64 and d.OUT_BEATS == net.out_beats
    assert (d.REG_AP_CTRL, d.REG_CHUNKS) == (0x00, 0x10)
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, size=(7, net.chunk_samples))
    assert np.array_equal(d.pack_input(x, 8, 64), beats.pack_input(x, 8, 64))
    assert d.pack_input(x, 8, 64).dtype == np.uint64
    y = rng.integers(-2**31, 2**31, size=(7, net.out_beats)).astype(np.int32)
    assert np.array_equal(d.unpack_output(y, net.out_frames, net.classes), beats.unpack_output(y, net.out_frames, net.classes))
    src = open(d.__file__).read()
    assert "import flow" not in src and "from flow" not in src  # self-contained on the board


def test_quantize_matches_the_golden_input(driver_module, tiny):
    model, _ = tiny
    x = np.random.default_rng(2).normal(size=(5, CHUNK)).astype(np.float32) * 2
    x[0, :4] = [10, -10, 0.0, 1e-9]
    assert np.array_equal(driver_module.quantize(x), quantize_input(model, x)[..., 0])


# ------------------------------------------------------------------ a board that replays the C-simulation


class _Buffer(np.ndarray):
    def flush(self):
        self.flushed = True

    def invalidate(self):
        pass

    def freebuffer(self):
        pass


def _replay_board(vectors, d, length_bits):
    """pynq with an Overlay holding an AXI DMA and an HLS IP that computes nothing: it answers each
    chunk the driver sends with the output beats the C-simulation of the generated top produced for
    the same input beats (vectors/input_beats.npy → csim_output_beats.npy), and refuses a chunk the
    C-simulation never saw. Every S2MM transfer ends at the chunk's TLAST, as in hardware."""
    seen_in = np.load(vectors / "input_beats.npy")
    seen_out = np.load(vectors / "csim_output_beats.npy")
    assert seen_out.dtype == np.int32 and len(seen_in) == len(seen_out)
    log = {"sends": [], "recv": 0, "starts": []}

    class Ip:
        def __init__(self):
            self.regs, self.pending, self.running = {}, [], False

        def write(self, offset, value):
            self.regs[offset] = value
            if offset == d.REG_AP_CTRL and value & 1:
                assert not value & d.AP_AUTO_RESTART
                log["starts"].append(self.regs[d.REG_CHUNKS])
                self.running, self.pending, self.chunks = True, [], self.regs[d.REG_CHUNKS]

        def read(self, offset):
            assert offset == d.REG_AP_CTRL
            return d.AP_IDLE | d.AP_DONE if not self.running else 0

    ip = Ip()

    class Send:
        def transfer(self, buf):
            assert ip.running and getattr(buf, "flushed", False)
            assert buf.nbytes < 1 << length_bits, "MM2S longer than the DMA length register"
            beats_in = np.array(buf)
            assert beats_in.dtype == seen_in.dtype and beats_in.shape[1:] == seen_in.shape[1:]
            assert len(beats_in) == ip.chunks
            log["sends"].append(len(beats_in))
            for chunk in beats_in:
                match = np.flatnonzero((seen_in == chunk).all(axis=1))
                assert len(match), "the driver sent input beats the C-simulation never received"
                ip.pending.append(seen_out[match[0]].copy())

        def wait(self):
            pass

    class Recv:
        def transfer(self, buf):
            chunk = ip.pending.pop(0)
            flat = buf.reshape(-1)
            assert len(flat) >= len(chunk), "S2MM buffer shorter than the beats of one chunk"
            flat[:len(chunk)] = chunk  # TLAST after the chunk's last beat ends the transfer
            log["recv"] += 1
            if not ip.pending:
                ip.running = False

        def wait(self):
            pass

    dma = types.SimpleNamespace(sendchannel=Send(), recvchannel=Recv())

    class Overlay:
        def __init__(self, bitfile, download=True):
            log["bitfile"] = bitfile
            self.ip_dict = {"ps": {"type": "xilinx.com:ip:processing_system7:5.5"},
                            "dma": {"type": "xilinx.com:ip:axi_dma:7.1"},
                            "rubicon_top": {"type": "xilinx.com:hls:rubicon_top:1.0"}}
            self.dma, self.rubicon_top = dma, ip

    def allocate(shape, dtype):
        return np.zeros(shape, dtype).view(_Buffer)

    return types.SimpleNamespace(Overlay=Overlay, allocate=allocate), log


def _import_driver(path):
    """A generated driver imported from its file with `import pynq` made to fail."""
    saved = sys.modules.get("pynq", "absent")
    sys.modules["pynq"] = None  # any import of pynq at module level would raise here
    try:
        spec = importlib.util.spec_from_file_location(f"rubicon_driver_{abs(hash(str(path)))}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved == "absent":
            del sys.modules["pynq"]
        else:
            sys.modules["pynq"] = saved
    return module


@pytest.fixture(scope="module")
def built(tiny_build):
    """conftest's tiny build: its generated driver, the C-simulation vectors, and what the golden
    model expects (integer logits, the graph's logit scale)."""
    from qonnx.core.modelwrapper import ModelWrapper

    cfg, report = tiny_build
    assert report["csim"]["bit_exact"]
    root = cfg.build_dir
    final = ModelWrapper(str(root / "final.onnx"))
    return types.SimpleNamespace(driver=root / "driver" / "rubicon_driver.py", vectors=root / "vectors",
                                 ints=np.load(root / "vectors" / "input_ints.npy")[..., 0],
                                 expect=np.load(root / "vectors" / "golden.npy"),
                                 scale=final.get_initializer("logit_scale").astype(np.float64),
                                 length_bits=dma_plan(build_network(final)).length_bits)


@pytest.mark.parametrize("batch", [None, 2])
def test_driver_runs_the_built_accelerator_on_its_csim_beats(built, monkeypatch, batch):
    """The build's own driver against a board replaying that build's C-simulation: the chunks it
    packs are the beats the generated C++ consumed, and what it unpacks from the C++'s output beats
    equals the golden model's logits."""
    d = _import_driver(built.driver)
    fake, log = _replay_board(built.vectors, d, built.length_bits)
    monkeypatch.setitem(sys.modules, "pynq", fake)
    if batch:
        monkeypatch.setattr(d, "MAX_BATCH", batch)
    n = len(built.ints)
    acc = d.RubiconAccelerator("rubicon.bit")
    int_logits, valid, logits = acc.run(built.ints)
    assert int_logits.shape == built.expect.shape and len(np.unique(built.expect)) > 10
    assert np.array_equal(int_logits, built.expect)
    assert np.array_equal(logits, built.expect * built.scale)  # the embedded scales are the graph's
    assert np.array_equal(valid, np.full(n, d.OUT_FRAMES))
    assert log["recv"] == n and sum(log["sends"]) == n
    expected_sends = [batch] * (n // batch) + ([n % batch] if n % batch else []) if batch else [n]
    assert log["sends"] == expected_sends and log["starts"] == log["sends"]
    with pytest.raises(ValueError, match="quantize"):
        acc.run(np.full((1, d.CHUNK_SAMPLES), 1000))
    with pytest.raises(ValueError, match=f"\\[N, {d.CHUNK_SAMPLES}\\]"):
        acc.run(np.zeros((1, d.CHUNK_SAMPLES + 1), dtype=np.int64))


def test_driver_main_saves_the_csim_logits(built, tmp_path, monkeypatch):
    """`python3 rubicon_driver.py chunks.npy` on float chunks: quantize, run, save."""
    d = _import_driver(built.driver)
    fake, _ = _replay_board(built.vectors, d, built.length_bits)
    monkeypatch.setitem(sys.modules, "pynq", fake)
    np.save(tmp_path / "c.npy", built.ints * d.INPUT_SCALE)  # float chunks that quantize to the C-sim's inputs
    d.main([str(tmp_path / "c.npy"), "-o", str(tmp_path / "out.npz")])
    out = np.load(tmp_path / "out.npz")
    assert set(out.files) == {"int_logits", "valid_lengths", "logits"}
    assert np.array_equal(out["int_logits"], built.expect) and np.array_equal(out["logits"], built.expect * built.scale)


@pytest.fixture(scope="module")
def dp_hardware(tiny_dp_basecaller, tmp_path_factory):
    """conftest's dynamic-pooling basecaller with BatchNorm statistics settled on random signal (as
    built, its layers after the pool quantize to 0 and every logit is 0), lowered at its default
    folding: the generated C++, its C-simulation on four chunks (one saturated, some overflowing
    Lmax) and the driver generated for the same network."""
    from flow.codegen.csim import run_csim, write_vectors
    from flow.codegen.project import write_sources
    from flow.export.qonnx_export import export_model
    from flow.hw.fold import insert_fifos
    from flow.ir.lower import lower_qonnx

    root = tmp_path_factory.mktemp("dp_hw")
    basecaller = copy.deepcopy(tiny_dp_basecaller).train()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _ in range(3):
            basecaller(torch.randn(4, 1, TINY_CHUNK, generator=gen).clamp(-2.5, 2.5))
        basecaller.dynamic_pool.move_scale.fill_(1.2)  # the fixture's overflowing move scale, not the batches'
    lowered = lower_qonnx(export_model(basecaller.eval(), root / "m.onnx", TINY_CHUNK))
    model = insert_fifos(insert_dwcs(lowered))  # the predictor writes one of {a, b} per beat at PE 1; the pool reads both
    net = write_sources(model, root / "hls")
    chunks = np.random.default_rng(4).normal(size=(4, TINY_CHUNK)).clip(-3, 3)
    chunks[0] = 2.5  # a saturated chunk pools differently from noise
    write_vectors(model, net, quantize_input(model, chunks), root / "vectors")
    _, cmp = run_csim(root / "hls", net, root / "vectors")
    assert cmp.bit_exact
    driver = write_driver(root, net, load_target("pynq-z2"), model_name="tiny_dp", **model_constants(model))
    return types.SimpleNamespace(driver=driver, vectors=root / "vectors", chunks=chunks, net=net)


def test_driver_returns_the_dynamic_pooling_frame_counts(dp_hardware, monkeypatch):
    d = _import_driver(dp_hardware.driver)
    fake, _ = _replay_board(dp_hardware.vectors, d, dma_plan(dp_hardware.net).length_bits)
    monkeypatch.setitem(sys.modules, "pynq", fake)
    int_logits, valid, _ = d.RubiconAccelerator("rubicon.bit").run(d.quantize(dp_hardware.chunks))
    net = dp_hardware.net
    assert d.TRAILER == 1 and d.OUT_BEATS == net.out_frames * net.classes + 1
    expect = np.load(dp_hardware.vectors / "golden.npy")
    assert np.array_equal(int_logits, expect) and len(np.unique(expect)) > 10
    trailer = np.load(dp_hardware.vectors / "golden_trailer.npy")  # valid frames, overflow
    assert np.array_equal(valid, trailer[:, 0]) and len(set(valid.tolist())) > 1
    assert trailer[:, 1].any() and not trailer[:, 1].all()


def test_driver_rejects_wrong_scales(tiny, tmp_path):
    model, net = tiny
    consts = model_constants(model)
    consts["logit_scale"] = np.ones(net.classes + 1)
    with pytest.raises(FlowError, match="classes"):
        write_driver(tmp_path, net, load_target("pynq-z2"), model_name="tiny", **consts)
    assert not (tmp_path / "driver" / "rubicon_driver.py").exists()


# ------------------------------------------------------------------ running the tools


def _write_scripts(tmp_path, net, target_name="pynq-z2"):
    target = load_target(target_name)
    write_hls_tcl(tmp_path, net, target)
    write_vivado_tcl(tmp_path, net, target)
    return target


def test_vendor_flow_skips_without_tools(tiny, tmp_path, monkeypatch):
    _, net = tiny
    monkeypatch.setattr(vendor.shutil, "which", lambda name: None)
    assert vendor_tools() == {"vitis_hls": None, "vivado": None, "v++": None}
    result = run_vendor_flow(tmp_path, _write_scripts(tmp_path, net))
    line = result["skipped"]
    assert "\n" not in line and "vitis_hls and vivado not on PATH" in line
    assert str(tmp_path / "hls" / "run_hls.tcl") in line and str(tmp_path / "vivado" / "build_bd.tcl") in line
    assert set(result) == {"skipped"}
    assert "skipped" in run_vendor_flow(tmp_path, load_target("vck190"))
    with pytest.raises(FlowError, match="generate the vendor scripts"):
        run_vendor_flow(tmp_path / "empty", load_target("pynq-z2"))


def _fake_tool(bin_dir, name, body):
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_vendor_flow_runs_tools_and_returns_reports(tiny, tmp_path, monkeypatch):
    """Stand-in vitis_hls/vivado scripts that leave the files the real tools would."""
    _, net = tiny
    build = tmp_path / "build"
    target = _write_scripts(build, net)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_tool(bin_dir, "vitis_hls", 'test "$2" = run_hls.tcl || exit 9\nmkdir -p rubicon_hls/sol1/syn/report\n'
                                     'echo "<profile/>" > rubicon_hls/sol1/syn/report/csynth.xml\necho hls ok\n')
    _fake_tool(bin_dir, "vivado", 'mkdir -p reports ../driver\nfor f in reports/utilization.rpt reports/utilization_hier.rpt '
                                  'reports/timing_summary.rpt ../driver/rubicon.bit ../driver/rubicon.hwh; do echo x > $f; done\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = run_vendor_flow(build, target)
    paths = vendor_paths(build)
    assert result["csynth_xml"] == str(paths["csynth_xml"]) and result["utilization"] == str(paths["utilization"])
    assert result["utilization_hier"] == str(paths["utilization_hier"]) and result["bitstream"] == str(paths["bitstream"])
    assert "hls ok" in (build / "logs" / "vitis_hls.log").read_text()
    _fake_tool(bin_dir, "vivado", "exit 1\n")
    with pytest.raises(FlowError, match=r"Vivado failed \(exit 1\); see .*vivado_console.log"):
        run_vendor_flow(build, target)


STUB = r"""
# Every vendor command is unknown to tclsh: log it and answer like the tool would.
set ::log {}
proc unknown {args} {
    lappend ::log $args
    switch -- [lindex $args 0] {
        get_board_parts { return "" }
        get_ipdefs { return "xilinx.com:hls:rubicon_top:1.0" }
        get_property {
            switch -- [lindex $args 1] { PROGRESS { return "100%" } SLACK { return 0.25 } DIRECTORY { return impl_dir } }
        }
    }
    return "stub"
}
proc exit {} {}
source [lindex $argv 0]
set f [open calls.txt w]
foreach c $::log { puts $f $c }
close $f
"""


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="no tclsh")
@pytest.mark.parametrize("target_name", ["pynq-z2", "zcu104"])
def test_tcl_scripts_run_under_stub_tools(tiny, tmp_path, target_name, monkeypatch):
    """Plain tclsh with the Vivado/Vitis commands stubbed: the scripts parse, take their paths from
    their own directory, honour the step selection, and copy the overlay next to the driver."""
    _, net = tiny
    target = _write_scripts(tmp_path, net, target_name)
    (tmp_path / "stub.tcl").write_text(STUB)
    hls = tmp_path / "hls"
    run = lambda script, cwd: subprocess.run(["tclsh", str(tmp_path / "stub.tcl"), str(script)], cwd=cwd,  # noqa: E731
                                             capture_output=True, text=True, check=True)
    run(hls / "run_hls.tcl", tmp_path)
    calls = (hls / "calls.txt").read_text()
    assert f"csim_design -argv {{{tmp_path}/vectors/input_beats.npy " in calls and "cosim_design" not in calls
    assert "export_design -format ip_catalog" in calls and f"set_part {target.part}" in calls
    monkeypatch.setenv("RUBICON_HLS_STEPS", "csynth cosim")
    run(hls / "run_hls.tcl", tmp_path)
    calls = (hls / "calls.txt").read_text()
    assert "cosim_design" in calls and "csim_design" not in calls and "export_design" not in calls

    viv = tmp_path / "vivado"
    (hls / "rubicon_hls" / "sol1" / "impl" / "ip").mkdir(parents=True)
    (viv / "impl_dir").mkdir(parents=True)
    (viv / "impl_dir" / "rubicon_wrapper.bit").write_text("bit")
    handoff = viv / "rubicon_vivado" / "rubicon_vivado.gen" / "sources_1" / "bd" / "rubicon" / "hw_handoff"
    handoff.mkdir(parents=True)
    (handoff / "rubicon.hwh").write_text("hwh")
    out = run(viv / "build_bd.tcl", tmp_path).stdout  # run from another directory on purpose
    assert "rubicon: wrote ../driver/rubicon.bit" in out
    assert (tmp_path / "driver" / "rubicon.bit").read_text() == "bit"
    assert (tmp_path / "driver" / "rubicon.hwh").read_text() == "hwh"
    calls = (viv / "calls.txt").read_text()
    for cmd in ("create_bd_design rubicon", "validate_bd_design", "launch_runs impl_1 -to_step write_bitstream",
                "report_utilization -hierarchical -file reports/utilization_hier.rpt", "assign_bd_address"):
        assert cmd in calls, cmd
