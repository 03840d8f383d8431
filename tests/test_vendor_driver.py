"""Vendor-tool scripts and the PYNQ driver: contents, errors, and the driver's whole data path
against a fake PYNQ whose DMA runs the golden model (no Xilinx tools, no board)."""
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

from flow.codegen import beats
from flow.codegen import vendor
from flow.codegen.driver import model_constants, write_driver
from flow.codegen.network import build_network
from flow.codegen.vendor import dma_plan, run_vendor_flow, vendor_paths, vendor_tools, write_hls_tcl, write_vivado_tcl
from flow.errors import FlowError
from flow.hw.fold import insert_dwcs
from flow.hw.targets import load_target
from flow.ir.golden import quantize_input, run_dataflow, run_dataflow_outputs

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
    path = write_driver(tmp_path, net, load_target("pynq-z2"), model_name="tiny", **model_constants(model))
    saved = sys.modules.get("pynq", "absent")
    sys.modules["pynq"] = None  # any import of pynq at module level would raise here
    try:
        spec = importlib.util.spec_from_file_location("rubicon_driver_under_test", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved == "absent":
            del sys.modules["pynq"]
        else:
            sys.modules["pynq"] = saved
    return module


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


# ------------------------------------------------------------------ a fake PYNQ


def _unpack_input(beats_u64: np.ndarray, elem_bits: int, beat_bits: int) -> np.ndarray:
    """The inverse of pack_input (what the hardware's input adapter does), for the fake DMA."""
    per = beat_bits // elem_bits
    lanes = (beats_u64[..., None] >> (np.arange(per, dtype=np.uint64) * np.uint64(elem_bits))) & np.uint64((1 << elem_bits) - 1)
    ints = lanes.astype(np.int64).reshape(beats_u64.shape[0], -1)
    return np.where(ints >= 1 << (elem_bits - 1), ints - (1 << elem_bits), ints)


class _Buffer(np.ndarray):
    def flush(self):
        self.flushed = True

    def invalidate(self):
        pass

    def freebuffer(self):
        pass


def _fake_pynq(model, d, length_bits):
    """pynq with an Overlay holding an AXI DMA and the HLS IP: the IP runs the golden model on the
    beats the DMA sends; every S2MM transfer ends at the chunk's TLAST, as in hardware."""
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
            beats_in = np.array(buf).reshape(-1, d.IN_BEATS)
            assert len(beats_in) == ip.chunks
            log["sends"].append(len(beats_in))
            ints = _unpack_input(beats_in, d.IN_ELEM_BITS, d.IN_BEAT_BITS)
            outputs = run_dataflow_outputs(model, ints[..., None])
            acc = outputs["global_out"].reshape(len(ints), -1)
            assert acc.min() >= -2**31 and acc.max() < 2**31
            if "frame_count" in outputs:  # the trailer beat: count | overflow << 31
                trailer = (outputs["frame_count"] | outputs["frame_overflow"] << 31).astype(np.uint32).view(np.int32)
                acc = np.concatenate([acc, trailer[:, None].astype(np.int64)], axis=1)
            ip.pending = list(acc.astype(np.int32))

        def wait(self):
            pass

    class Recv:
        def transfer(self, buf):
            chunk = ip.pending.pop(0)
            flat = buf.reshape(-1)
            flat[:len(chunk)] = chunk  # TLAST after OUT_BEATS beats ends the transfer
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


@pytest.mark.parametrize("batch", [None, 2])
def test_driver_run_end_to_end_on_a_fake_board(driver_module, tiny, monkeypatch, batch):
    model, net = tiny
    d = driver_module
    fake, log = _fake_pynq(model, d, dma_plan(net).length_bits)
    monkeypatch.setitem(sys.modules, "pynq", fake)
    if batch:
        monkeypatch.setattr(d, "MAX_BATCH", batch)
    chunks = np.random.default_rng(3).normal(size=(5, CHUNK)).clip(-3, 3).astype(np.float32)
    acc = d.RubiconAccelerator("rubicon.bit")
    int_logits, valid, logits = acc.run(d.quantize(chunks))
    golden = run_dataflow(model, chunks)
    assert int_logits.shape == (5, net.out_frames, net.classes)
    assert np.array_equal(int_logits, golden.accumulators)
    assert np.array_equal(logits, golden.logits)  # the embedded scales are exact
    assert np.array_equal(valid, np.full(5, net.out_frames))
    assert log["recv"] == 5 and sum(log["sends"]) == 5
    assert log["sends"] == ([2, 2, 1] if batch else [5]) and log["starts"] == log["sends"]
    with pytest.raises(ValueError, match="quantize"):
        acc.run(np.full((1, CHUNK), 1000))
    with pytest.raises(ValueError, match=f"\\[N, {CHUNK}\\]"):
        acc.run(np.zeros((1, CHUNK + 1), dtype=np.int64))


def test_driver_returns_the_dynamic_pooling_frame_counts(tiny_dp, monkeypatch, tmp_path):
    model = insert_dwcs(tiny_dp)  # the predictor writes one of {a, b} per beat at PE 1; the pool reads both
    net = build_network(model)
    d = _load_driver(model, net, tmp_path)
    fake, log = _fake_pynq(model, d, dma_plan(net).length_bits)
    monkeypatch.setitem(sys.modules, "pynq", fake)
    chunks = np.random.default_rng(4).normal(size=(4, d.CHUNK_SAMPLES)).clip(-3, 3).astype(np.float32)
    chunks[0] = 2.5  # a saturated chunk pools differently from noise
    int_logits, valid, _ = d.RubiconAccelerator("rubicon.bit").run(d.quantize(chunks))
    golden = run_dataflow(model, chunks)
    assert d.TRAILER == 1 and d.OUT_BEATS == net.out_frames * net.classes + 1
    assert np.array_equal(int_logits, golden.accumulators)
    assert np.array_equal(valid, golden.frame_count) and len(set(valid.tolist())) > 1


def test_driver_main_saves_logits(driver_module, tiny, tmp_path, monkeypatch):
    model, _ = tiny
    d = driver_module
    fake, _ = _fake_pynq(model, d, 26)
    monkeypatch.setitem(sys.modules, "pynq", fake)
    chunks = np.random.default_rng(4).normal(size=(3, CHUNK)).astype(np.float32)
    np.save(tmp_path / "c.npy", chunks)
    d.main([str(tmp_path / "c.npy"), "-o", str(tmp_path / "out.npz")])
    out = np.load(tmp_path / "out.npz")
    assert np.array_equal(out["logits"], run_dataflow(model, chunks).logits)
    assert set(out.files) == {"int_logits", "valid_lengths", "logits"}


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
