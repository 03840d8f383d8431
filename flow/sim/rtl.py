"""Running the DynamicPool kernel tests: the C++ kernel (hls/dynamic_pool.h) stepped per clock,
its SystemVerilog twin (hls/rtl/dynamic_pool.sv) under Verilator, and Yosys for its size.

A `PoolConfig` is one kernel instantiation (sizes, format, tables) with its chunks. For a list
of configs `write_configs` writes the vectors (golden from `dynamic_pool_int`) into a vector
folder, `run_cpp` builds and runs hls/tests/test_dynamic_pool.cpp over all of them,
`build_verilator` builds one simulator holding every config and `run_verilator` runs one config
on a vector folder (file names are relative to it). Both return per-chunk cycles, the
back-to-back total and the error count. Builds are cached by content in their build folder.
"""
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flow.codegen.compile import compile_program
from flow.errors import FlowError
from flow.numerics.dynamic_pool import DynamicPoolFormat, dynamic_pool_int, lut_index
from flow.paths import REPO_ROOT
from flow.sim.rtl_op import verilator_build

HLS = REPO_ROOT / "hls"
RTL = HLS / "rtl" / "dynamic_pool.sv"
TB = HLS / "tests" / "tb_dynamic_pool.sv"
CPP_TEST = HLS / "tests" / "test_dynamic_pool.cpp"
_LINE = re.compile(r"^cfg (\d+) (?:case (\d+) cycles|(stream_cycles|errors)) (-?\d+)\s*$")


@dataclass
class PoolConfig:
    """One kernel instantiation (template/RTL parameters, tables) and the chunks it runs."""
    fmt: DynamicPoolFormat
    channels: int
    pe: int
    pred_bits: int
    luts: np.ndarray        # [2, 2^K]
    thresholds: np.ndarray  # [C, levels], ≥ 1
    features: np.ndarray    # [N, T, C]
    ab: np.ndarray          # [N, T, 2]

    def __post_init__(self):
        n, t, c = self.features.shape
        if c != self.channels or c % self.pe or self.ab.shape != (n, t, 2) or self.thresholds.shape[0] != c:
            raise ValueError(f"PoolConfig: features {self.features.shape}, ab {self.ab.shape}, thresholds "
                             f"{self.thresholds.shape} do not fit C={self.channels}, PE={self.pe}")

    @property
    def t_in(self) -> int:
        return self.features.shape[1]

    @property
    def levels(self) -> int:
        return self.thresholds.shape[1]

    def golden(self):
        """frames [N, Lmax, C], count [N], overflow [N] from the integer reference."""
        res = [dynamic_pool_int(f, ab[:, 0], ab[:, 1], self.fmt, self.luts, self.thresholds)
               for f, ab in zip(self.features, self.ab)]
        return (np.stack([r[0] for r in res]), np.array([r[1] for r in res], dtype=np.int64),
                np.array([r[2] for r in res], dtype=np.int64))

    def model_cycles(self) -> np.ndarray:
        """The kernel's cycle model per isolated chunk: 1 + (C/PE)·(Lmax + Z), Z = input frames
        whose position stays in the frame of the one before (see hls/dynamic_pool.h)."""
        m = self.luts[1][lut_index(self.ab[:, :, 1], self.fmt.lut_bits, self.fmt.b_shift)]
        j = np.minimum(np.cumsum(m, axis=1), self.fmt.pos_cap) >> self.fmt.move_frac_bits
        z = (np.diff(j, axis=1, prepend=0) == 0).sum(axis=1)
        return 1 + (self.channels // self.pe) * (self.fmt.lmax + z)


def _hex(path: Path, values, bits: int) -> None:
    mask = (1 << bits) - 1
    path.write_text("".join(f"{int(v) & mask:x}\n" for v in np.asarray(values).ravel()))


def write_configs(configs: list[PoolConfig], vectors: Path) -> None:
    """Per config cfg<i>/: .npy vectors for the C++ test, .hex for the RTL (tables, vectors, golden)."""
    for i, cfg in enumerate(configs):
        d = vectors / f"cfg{i}"
        d.mkdir(parents=True, exist_ok=True)
        frames, count, overflow = cfg.golden()
        for name, arr in {"features": cfg.features, "ab": cfg.ab, "frames": frames, "count": count,
                          "overflow": overflow}.items():
            np.save(d / f"{name}.npy", np.ascontiguousarray(arr, dtype=np.int64))
        f = cfg.fmt
        _hex(d / "w_lut.hex", cfg.luts[0], f.weight_frac_bits)
        _hex(d / "m_lut.hex", cfg.luts[1], f.move_frac_bits + f.move_int_bits)
        _hex(d / "thresholds.hex", _thr_lanes(cfg), f.acc_bits + 1)
        _hex(d / "features.hex", cfg.features, f.feature_bits)
        _hex(d / "ab.hex", cfg.ab, cfg.pred_bits)
        _hex(d / "frames.hex", frames, f.out_bits)
        _hex(d / "side.hex", (overflow << f.count_bits) | count, f.count_bits + 1)


def _thr_lanes(cfg: PoolConfig) -> np.ndarray:
    """Thresholds [PE, C/PE, levels] (channel nf·PE + p at [p, nf]), clipped to acc_max + 1: an
    accumulator never exceeds acc_max, so this keeps every comparison and fits ACC_BITS + 1 bits."""
    thr = np.minimum(cfg.thresholds, cfg.fmt.acc_max + 1)
    return thr.reshape(cfg.channels // cfg.pe, cfg.pe, cfg.levels).transpose(1, 0, 2)


def _kernel_params(cfg: PoolConfig) -> list[tuple[str, int]]:
    f = cfg.fmt
    return [("C", cfg.channels), ("PE", cfg.pe), ("T_IN", cfg.t_in), ("LMAX", f.lmax), ("LUT_BITS", f.lut_bits),
            ("A_SHIFT", f.a_shift), ("B_SHIFT", f.b_shift), ("WEIGHT_FRAC_BITS", f.weight_frac_bits),
            ("MOVE_FRAC_BITS", f.move_frac_bits), ("MOVE_INT_BITS", f.move_int_bits), ("PROD_SHIFT", f.prod_shift),
            ("ACC_BITS", f.acc_bits), ("LEVELS", cfg.levels)]


def _carray(values) -> str:
    a = np.asarray(values)
    if a.ndim == 1:
        return "{" + ", ".join(str(int(v)) for v in a) + "}"
    return "{" + ", ".join(_carray(v) for v in a) + "}"


def cpp_header(configs: list[PoolConfig]) -> str:
    """dp_configs.h: one params struct and kernel type per config, and DP_CONFIGS(X)."""
    out, xs = ["// Generated by flow.sim.rtl for hls/tests/test_dynamic_pool.cpp", "#pragma once"], []
    for i, cfg in enumerate(configs):
        f, nf, k = cfg.fmt, cfg.channels // cfg.pe, 1 << cfg.fmt.lut_bits
        mb, tb = f.move_frac_bits + f.move_int_bits, f.acc_bits + 1
        out += [f"struct dp_P{i} {{",
                f"    static const ap_uint<{f.weight_frac_bits}> w_lut[{k}];",
                f"    static const ap_uint<{mb}> m_lut[{k}];",
                f"    static const ap_uint<{tb}> thresholds[{cfg.pe}][{nf}][{cfg.levels}];", "};",
                f"const ap_uint<{f.weight_frac_bits}> dp_P{i}::w_lut[{k}] = {_carray(cfg.luts[0])};",
                f"const ap_uint<{mb}> dp_P{i}::m_lut[{k}] = {_carray(cfg.luts[1])};",
                f"const ap_uint<{tb}> dp_P{i}::thresholds[{cfg.pe}][{nf}][{cfg.levels}] = {_carray(_thr_lanes(cfg))};",
                f"typedef rubicon::DynamicPool<{', '.join(str(v) for _, v in _kernel_params(cfg))}, "
                f"ap_uint<{f.feature_bits}>, ap_int<{cfg.pred_bits}>, ap_uint<{f.out_bits}>, dp_P{i}> dp_K{i};"]
        xs.append(f"X({i}, dp_K{i})")
    out.append("#define DP_CONFIGS(X) " + " ".join(xs))
    return "\n".join(out) + "\n"


def parse_results(text: str) -> dict[int, dict]:
    """{config: {"cycles": [per chunk], "stream_cycles": n, "errors": n}} from a test log."""
    res: dict[int, dict] = {}
    for line in text.splitlines():
        if m := _LINE.match(line.strip()):
            r = res.setdefault(int(m.group(1)), {"cycles": {}, "stream_cycles": None, "errors": None})
            if m.group(2) is not None:
                r["cycles"][int(m.group(2))] = int(m.group(4))
            else:
                r[m.group(3)] = int(m.group(4))
    for r in res.values():
        r["cycles"] = [r["cycles"][k] for k in sorted(r["cycles"])]
    return res


def run_cpp(configs: list[PoolConfig], vectors: Path, build: Path) -> tuple[dict[int, dict], str]:
    """Compile (cached in `build`) and run the C++ kernel test on every config; (results, log)."""
    (build / "gen").mkdir(parents=True, exist_ok=True)
    header = build / "gen" / "dp_configs.h"
    text = cpp_header(configs)
    if not header.exists() or header.read_text() != text:
        header.write_text(text)
    exe = compile_program(CPP_TEST, build / "test_dynamic_pool", include_dirs=[HLS, build / "gen"])
    run = subprocess.run([str(exe), str(vectors)], capture_output=True, text=True)
    if run.returncode not in (0, 1):
        raise FlowError(f"{exe} failed ({run.returncode}): {run.stderr[-2000:]}")
    return parse_results(run.stdout), run.stdout


def _sv_params(params: dict) -> str:
    return ", ".join(f".{k}({v})" for k, v in params.items())


def tb_top(configs: list[PoolConfig]) -> str:
    """tb_top.sv: one tb_dynamic_pool per config, the +cfg=<i> one runs, $finish when it is done."""
    lines = ["// Generated by flow.sim.rtl", "module tb_top(input logic clk);", "    int sel;",
             "    logic [%d:0] done;" % (len(configs) - 1),
             '    initial if (!$value$plusargs("cfg=%d", sel)) sel = 0;']
    for i, cfg in enumerate(configs):
        p = {"CFG": i, "N": cfg.features.shape[0], **dict(_kernel_params(cfg)), "FEAT_BITS": cfg.fmt.feature_bits,
             "PRED_BITS": cfg.pred_bits, "OUT_BITS": cfg.fmt.out_bits}
        p |= {k: f'"cfg{i}/{v}"' for k, v in {"W_LUT_FILE": "w_lut.hex", "M_LUT_FILE": "m_lut.hex",
                                            "THR_FILE": "thresholds.hex", "FEAT_FILE": "features.hex",
                                            "AB_FILE": "ab.hex", "FRAMES_FILE": "frames.hex",
                                            "SIDE_FILE": "side.hex"}.items()}
        lines.append(f"    tb_dynamic_pool #({_sv_params(p)}) t{i} (.clk(clk), .run(sel == {i}), .done(done[{i}]));")
    lines += ["    always_ff @(posedge clk) if (|done) $finish;", "endmodule"]
    return "\n".join(lines) + "\n"


def build_verilator(configs: list[PoolConfig], build: Path, jobs: int = 2) -> Path:
    """One Verilator simulator holding every config (cached on the sources); its executable."""
    build.mkdir(parents=True, exist_ok=True)
    top = build / "tb_top.sv"
    top.write_text(tb_top(configs))
    return verilator_build([RTL, TB, top], build / "obj", "tb_dynamic_pool", "verilator", jobs)


def run_verilator(exe: Path, index: int, vectors: Path, log: Path) -> dict:
    """Run config `index` on the vectors; the log (with its one `cycles=<n>` line) is kept at `log`."""
    run = subprocess.run([str(exe.resolve()), f"+cfg={index}"], capture_output=True, text=True, cwd=vectors)
    log.write_text(run.stdout + run.stderr)
    if run.returncode != 0:
        raise FlowError(f"{exe} +cfg={index} failed ({run.returncode}): {(run.stdout + run.stderr)[-2000:]}")
    return parse_results(run.stdout).get(index, {"cycles": [], "stream_cycles": None, "errors": None})


def yosys_synth(cfg_index: int, cfg: PoolConfig, vectors: Path) -> Path:
    """`synth_xilinx -top dynamic_pool; stat` on the twin with one config's parameters and tables
    (written by write_configs into `vectors`); the log, beside the tables."""
    if shutil.which("yosys") is None:
        raise FlowError("yosys is not installed (apt-get install yosys)")
    d = (vectors / f"cfg{cfg_index}").resolve()
    params = dict(_kernel_params(cfg)) | {"FEAT_BITS": cfg.fmt.feature_bits, "PRED_BITS": cfg.pred_bits,
                                          "OUT_BITS": cfg.fmt.out_bits}
    chparam = " ".join(f"-chparam {k} {v}" for k, v in params.items())
    # the tables keep their default file names: yosys runs in the config's folder
    script = (f"read_verilog -defer -sv {RTL}; hierarchy -top dynamic_pool {chparam}; "
              "synth_xilinx -top dynamic_pool; stat")
    log = d / "yosys.log"
    run = subprocess.run(["yosys", "-q", "-l", str(log), "-p", script], capture_output=True, text=True, cwd=d)
    if run.returncode != 0:
        raise FlowError(f"yosys failed:\n{(run.stdout + run.stderr)[-3000:]}")
    return log
