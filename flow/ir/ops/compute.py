"""Compute ops: matrix-vector (MVAU), vector-vector (VVAU) and stand-alone thresholds.

Weights are integer matrices; an activation is FINN multi-thresholding of the integer
accumulator (BatchNorm, bias, scales and the activation quantizer are folded into the
per-channel thresholds by the lowering). With `noActivation`, the accumulator itself is
the output (the CTC head).

Implementation styles are node attributes, each with its own cost and kernel:
`thresholdStyle` (every level compared at once, or a pipelined binary search), `resType` of the
MVAU (fabric multipliers, or DSP slices with packed narrow products) and `ramStyle` (FINN's
ram_style for the weight and threshold memories).
"""
from math import ceil, log2

import numpy as np
from qonnx.core.datatype import DataType

from flow.errors import FlowError
from flow.ir.ops import resources as R
from flow.ir.ops.base import DataflowOp, bits, check_range, divisors, multithreshold, signed_bits
from flow.ir.ops.cpp import ctype, identifier
from flow.ir.ops.kernel import Kernel, check_divides, folded_thresholds, params_struct, storage_pragmas
from flow.ir.ops.resources import DSP48E1_A_BITS, NodeCost, dsp_packing
from flow.ir.ops.rtl import RtlInstance, StreamPort

THRESHOLD_STYLES = ("parallel", "search")  # every level compared at once, or a pipelined binary search
MULTIPLIER_STYLES = ("lut", "dsp")          # fabric multipliers, or DSP slices with packed narrow products
RAM_STYLES = ("auto", "distributed", "block", "ultra")  # weight and threshold memories (FINN's ram_style)
RAM_CHOICES = ("auto", "block")  # the ram styles folding explores: the memory rule (LUTRAM up to 128 deep), or BRAM


def table_words(values: np.ndarray, bits: int, signed: bool = True) -> np.ndarray:
    """[words, ...] elements → one memory word each, its elements (C order) little end first, element i at
    bits [i·bits, (i+1)·bits) (the RTL twins' tables: a word is what one cycle reads)."""
    rows = np.asarray(values).reshape(len(values), -1)
    return np.array(StreamPort("table", rows.shape[1], bits, signed).pack(rows), dtype=object)


def rtl_port(name: str, width: int, dtype: str) -> StreamPort:
    return StreamPort(name, width, bits(dtype), DataType[dtype].signed())


def exact_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Integer matrix product through float64 BLAS: exact while |sums| < 2^53, which every
    accumulator of ≤ 8-bit operands here is by many orders of magnitude."""
    return np.rint(x.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)


class _Thresholded(DataflowOp):
    """An op whose output is multi-thresholded (MVAU, VVAU, Thresholding): the threshold and
    memory styles, the threshold parameters of its cost and the threshold table of its kernel."""

    threshold_input = 2  # index of the thresholds initializer

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"ActVal": ("i", False, 0), "noActivation": ("i", False, 0),
                                               "accDataType": ("s", False, "INT32"),
                                               "thresholdStyle": ("s", False, "parallel", THRESHOLD_STYLES),
                                               "ramStyle": ("s", False, "auto", RAM_STYLES)}

    def activate(self, context, acc: np.ndarray) -> np.ndarray:
        if self.get_nodeattr("noActivation"):
            return acc
        thresholds = self.input_array(context, self.threshold_input)
        return multithreshold(acc, thresholds, self.get_nodeattr("ActVal"))

    def store(self, context, out: np.ndarray) -> None:
        check_range(self.onnx_node.name, out, self.get_nodeattr("outputDataType"))
        context[self.onnx_node.output[0]] = out

    @classmethod
    def style_key(cls, params: dict) -> str:
        """The threshold style, or `noact` without an activation (the memory style is left to the
        estimate's memory rule, which already places the tables)."""
        return "noact" if params.get("no_activation") else params.get("threshold_style", "parallel")

    @classmethod
    def style_choices(cls, params: dict) -> list[dict]:
        """Threshold styles (none without an activation) × the memory styles folding explores."""
        thr = [{}] if params.get("no_activation") else [{"threshold_style": t} for t in THRESHOLD_STYLES]
        return [t | {"ram_style": r} for t in thr for r in RAM_CHOICES]

    def _threshold_array(self, model) -> np.ndarray | None:
        node = self.onnx_node
        if len(node.input) <= self.threshold_input or not node.input[self.threshold_input]:
            return None
        th = model.get_initializer(node.input[self.threshold_input])
        return None if th is None else np.asarray(th).astype(np.int64)

    def threshold_params(self, model) -> dict:
        """Levels, stored width and style of the node's thresholds (estimate parameters)."""
        th = None if self.get_nodeattr("noActivation") else self._threshold_array(model)
        return dict(levels=None if th is None else int(th.shape[-1]),
                    thr_bits=None if th is None else signed_bits(th),
                    threshold_style=self.get_nodeattr("thresholdStyle"), ram_style=self.get_nodeattr("ramStyle"))

    def threshold_table(self, model, channels: int, pe: int) -> tuple[str, np.ndarray, int, int]:
        """(C++ element type, [PE][C/PE][L] table, levels L, output bias) the kernel reads; a single
        dummy level without an activation."""
        if self.get_nodeattr("noActivation"):
            return "ap_int<2>", np.zeros((pe, channels // pe, 1), dtype=np.int64), 1, 0
        tty, thr, levels = folded_thresholds(self._threshold_array(model), channels, pe)
        return tty, thr, levels, self.get_nodeattr("ActVal")

    def thr_style_cpp(self) -> str:
        return "rubicon::THR_SEARCH" if self.get_nodeattr("thresholdStyle") == "search" else "rubicon::THR_PARALLEL"

    def threshold_rtl(self, model, channels: int, pe: int) -> tuple[dict, dict]:
        """Parameters and tables of hls/rtl/threshold_unit.sv (which says their layout) for thresholds
        [PE][C/PE][L]; none without an activation. Search: one table per stage, stage k holding the
        levels it probes, j·2^(s+1) + 2^s − 1 (s = D − 1 − k)."""
        if self.get_nodeattr("noActivation"):
            return {}, {}
        _, thr, levels, bias = self.threshold_table(model, channels, pe)
        tb = signed_bits(thr)
        params = {"LEVELS": levels, "ACT_BIAS": bias, "THR_BITS": tb}
        if self.get_nodeattr("thresholdStyle") != "search":
            return params | {"THR_STYLE": 0}, {"THRESHOLDS": (pe * levels * tb, table_words(thr.transpose(1, 0, 2), tb))}
        stages = R.search_stages(levels)
        if stages > 10:
            raise FlowError(f"{self.onnx_node.name}: {levels} threshold levels need {stages} search stages; the RTL "
                            "twin names its stage tables by one digit (at most 1023 levels)")
        tables = []
        for k in range(stages):
            s = stages - 1 - k
            probe = np.arange(1 << k) * (2 << s) + (1 << s) - 1
            probed = np.where(probe < levels, thr[:, :, np.minimum(probe, levels - 1)], 0)  # [PE][NF][2^k]
            tables.append(table_words(probed.transpose(1, 2, 0).reshape(-1, pe), tb))
        return params | {"THR_STYLE": 1}, {"THRESHOLDS": (pe * tb, tables)}

    def mac_rtl(self, model, weights: np.ndarray) -> tuple[dict, dict]:
        """What the mvau and vvau twins share: types, thresholds, and the LUT weights [PE][tiles][SIMD]
        as one word per tile (lane p, element s at (p·SIMD + s)·W bits)."""
        a = self.get_nodeattr
        idt, acc, wdt = a("inputDataType"), a("accDataType"), a("weightDataType")
        pe, simd = weights.shape[0], weights.shape[2]
        params = {"TI_BITS": bits(idt), "TI_SIGNED": int(DataType[idt].signed()),
                  "TA_BITS": bits(acc) + (0 if DataType[acc].signed() else 1), "TO_BITS": bits(a("outputDataType")),
                  "W_BITS": bits(wdt), "W_SIGNED": int(DataType[wdt].signed())}
        thr_params, tables = self.threshold_rtl(model, a(self.channel_attr), pe)
        words = table_words(weights.transpose(1, 0, 2), bits(wdt), DataType[wdt].signed())
        return params | thr_params, tables | {"WEIGHTS": (pe * simd * bits(wdt), words)}

    def weight_style(self, tables: dict) -> dict:
        """WEIGHT_STYLE of a twin's weight ROM: block RAM where the cost estimate assumes one (the node's
        ramStyle, or the rule for auto: deeper than 128 words), so synthesis builds what was costed."""
        width, words = tables["WEIGHTS"]
        return {"WEIGHT_STYLE": int(R.memory(width, len(words), self.get_nodeattr("ramStyle")).kind == "bram")}

    def mac_params(self, model, uram: bool) -> dict:
        """Estimate parameters MVAU and VVAU share."""
        a = self.get_nodeattr
        idt, acc = a("inputDataType"), a("accDataType")
        return dict(frames=self.frames(), weight_bits=bits(a("weightDataType")), in_bits=bits(idt),
                    out_bits=bits(a("outputDataType")), pe=a("PE"), simd=a("SIMD"),
                    acc_bits=bits(acc) if acc else None, in_signed=DataType[idt].signed(),
                    no_activation=bool(a("noActivation")), uram=uram, **self.threshold_params(model))


class MVAU(_Thresholded):
    """[N, T, MW] × W[MW, MH] → [N, T, MH], then thresholds [MH, levels] unless noActivation.

    Cycles T·(MH/PE)·(MW/SIMD) (FINN); FINN-R LUT/BRAM; packed DSP chains with resType dsp;
    thresholds by style (flow.ir.ops.resources)."""

    channel_attr = "MH"
    in_width_attr = "SIMD"

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"MW": ("i", True, 0), "MH": ("i", True, 0), "SIMD": ("i", False, 1),
                                               "PE": ("i", False, 1), "weightDataType": ("s", True, ""),
                                               "resType": ("s", False, "lut", MULTIPLIER_STYLES),
                                               "dspPortBits": ("i", False, DSP48E1_A_BITS)}

    def dsp_packing(self) -> R.DspPacking | None:
        """The packing of its DSP multipliers, None with LUT multipliers."""
        if self.get_nodeattr("resType") != "dsp":
            return None
        widths = (bits(self.get_nodeattr(a)) for a in ("weightDataType", "inputDataType"))
        return dsp_packing(*widths, self.get_nodeattr("dspPortBits"), self.get_nodeattr("SIMD"))

    def execute_node(self, context, graph):
        x, w = self.input_array(context, 0), self.input_array(context, 1)
        self.store(context, self.activate(context, exact_matmul(x, w)))

    # ---- cost
    @classmethod
    def estimate(cls, *, mw: int, mh: int, frames: int, weight_bits: int, in_bits: int, out_bits: int, pe: int = 1,
                 simd: int = 1, acc_bits: int | None = None, in_signed: bool = False, no_activation: bool = False,
                 levels: int | None = None, res_type: str = "auto", uram: bool = False,
                 threshold_style: str = "parallel", thr_bits: int | None = None,
                 dsp_port_bits: int = R.DSP_PORT_BITS, ram_style: str = "auto") -> NodeCost:
        W, A = weight_bits, in_bits
        nf, sf, acc, thr = R.mac_unit(("MH", mh, pe), ("MW", mw, simd), W, A, out_bits, acc_bits, in_signed,
                                      no_activation, levels, threshold_style, thr_bits, uram, ram_style)
        if R.uses_dsp(W, A, res_type):  # packed words: ⌈PE/lanes⌉ per input element
            packing = dsp_packing(W, A, dsp_port_bits, simd)
            weights = R.memory(ceil(pe / packing.lanes) * simd * packing.packed_bits, nf * sf, ram_style, uram=uram)
        else:
            weights = R.memory(pe * simd * W, nf * sf, ram_style, uram=uram)
        in_buf = R.memory(simd * A, sf, uram=uram) if nf > 1 else R.Memory("none")
        mem_lut, bram, ur = R.mem_cost(weights, in_buf)
        dot_lut, dsp = R.dot_products(pe=pe, simd=simd, weight_bits=W, in_bits=A, res_type=res_type,
                                      dsp_port_bits=dsp_port_bits)
        lut = int(R.MVAU_C0 + R.MVAU_C1 * (dot_lut + pe * acc + thr.logic_lut)) + mem_lut + thr.mem_lut
        ff = 100 + simd * A + pe * ((0 if dsp else simd * (W + A)) + acc + out_bits) + thr.ff
        return NodeCost(cycles=frames * nf * sf, lut=lut, ff=ff, bram18=bram + thr.bram18, uram=ur + thr.uram,
                        dsp=dsp)

    @classmethod
    def style_key(cls, params: dict) -> str:
        """Multipliers (lut, or dsp as resType auto resolves for these widths), then the thresholds."""
        dsp = R.uses_dsp(params["weight_bits"], params["in_bits"], params.get("res_type", "auto"))
        return f"{'dsp' if dsp else 'lut'},{super().style_key(params)}"

    def cost_params(self, model, uram: bool = False) -> dict:
        a = self.get_nodeattr
        return dict(mw=a("MW"), mh=a("MH"), res_type=a("resType"), dsp_port_bits=a("dspPortBits"),
                    **self.mac_params(model, uram))

    @classmethod
    def fold_choices(cls, params: dict, simds=None) -> list[dict]:
        """SIMD (dividing MW, or the given ones) × PE (dividing MH) × multiplier, threshold and memory styles."""
        styles = [{"res_type": r} | st for r in MULTIPLIER_STYLES for st in cls.style_choices(params)]
        return [{"simd": s, "pe": p} | st for s in (simds or divisors(params["mw"])) for p in divisors(params["mh"])
                for st in styles]

    def weight_table(self, model) -> np.ndarray:
        """W[MW, MH] as [PE][MH/PE · MW/SIMD][SIMD]: entry (nf·SF + sf, pe, s) is W[sf·SIMD + s, nf·PE + pe]."""
        mw, mh, simd, pe = (self.get_nodeattr(k) for k in ("MW", "MH", "SIMD", "PE"))
        w = model.get_initializer(self.onnx_node.input[1]).astype(np.int64)
        return w.reshape(mw // simd, simd, mh // pe, pe).transpose(3, 2, 0, 1).reshape(pe, mh // pe * (mw // simd), simd)

    def rtl(self, model) -> RtlInstance:
        """hls/rtl/mvau.sv: one weight word per tile nf·SF + sf (resType dsp: the packed words of group g at
        (g·SIMD + s)·WP_BITS, WP_BITS = packed_bits, which holds the most negative packed word)."""
        node, a = self.onnx_node, self.get_nodeattr
        mw, mh, simd, pe = a("MW"), a("MH"), a("SIMD"), a("PE")
        check_divides(node, "SIMD", mw, simd)
        check_divides(node, "PE", mh, pe)
        weights = self.weight_table(model)
        params, tables = self.mac_rtl(model, weights)
        params = {"MW": mw, "MH": mh, "SIMD": simd, "PE": pe, "NO_ACT": int(bool(a("noActivation")))} | params
        packing = self.dsp_packing()
        if packing is not None:
            wp_bits = packing.packed_bits
            packed = packing.pack(weights).transpose(1, 0, 2)  # [tiles][groups][SIMD]
            tables["WEIGHTS"] = (packed.shape[1] * simd * wp_bits, table_words(packed, wp_bits))
            params |= {"LANES": packing.lanes, "G": packing.spacing, "WP_BITS": wp_bits}
        return RtlInstance(node.name, "mvau", ["threshold_unit.sv", "mac.sv", "mvau.sv"], params | self.weight_style(tables), tables,
                           [rtl_port("in", simd, a("inputDataType"))], [rtl_port("out", pe, a("outputDataType"))])

    # ---- C++
    def kernel(self, model) -> Kernel:
        """hls/mvau.h: weights as [PE][MH/PE · MW/SIMD][SIMD] (or packed DSP words), thresholds [PE][MH/PE][L]."""
        node, a = self.onnx_node, self.get_nodeattr
        mw, mh, simd, pe = a("MW"), a("MH"), a("SIMD"), a("PE")
        check_divides(node, "SIMD", mw, simd)
        check_divides(node, "PE", mh, pe)
        name = identifier(node.name)
        weights = self.weight_table(model)
        packing = self.dsp_packing()
        if packing is None:
            arrays = {"weights": (ctype(a("weightDataType")), weights)}
            mul = f"rubicon::LutMultipliers<{name}_P>"
        else:
            arrays = {"wpacked": (f"ap_int<{packing.packed_bits}>", packing.pack(weights))}
            mul = f"rubicon::PackedDspMultipliers<{name}_P, {packing.lanes}, {packing.spacing}>"
        tty, thr, levels, bias = self.threshold_table(model, mh, pe)
        arrays["thresholds"] = (tty, thr)
        no_act = "true" if a("noActivation") else "false"
        return Kernel(node.name, node.op_type,
                      f"rubicon::MVAU<{mw}, {mh}, {simd}, {pe}, {self.frames()}, {no_act}, {levels}, {bias}, "
                      f"{ctype(a('inputDataType'))}, {ctype(a('accDataType'))}, {ctype(a('outputDataType'))}, {name}_P, "
                      f"{mul}, {self.thr_style_cpp()}>", params_struct(name, arrays),
                      latency=3 + ceil(log2(simd)) if simd > 1 else 3,
                      pragmas=storage_pragmas(name, a("ramStyle"), arrays))


class VVAU(_Thresholded):
    """Depthwise: [N, T, K·C] windows in the depthwise stream order of its sliding window (PE
    channels per tap, see ConvolutionInputGenerator1D) with W[C, K] → [N, T, C], then thresholds.
    A stream beat holds SIMD taps of PE channels.

    Cycles T·(C/PE)·(K/SIMD) (FINN); FINN-R LUTs with SIMD taps per lane; thresholds by style.
    Every lane has its own input, so DSP products are not packed."""

    channel_attr = "Channels"

    def in_width(self) -> int:
        return self.get_nodeattr("PE") * self.get_nodeattr("SIMD")

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"Channels": ("i", True, 0), "Kernel": ("i", True, 1), "PE": ("i", False, 1),
                                               "SIMD": ("i", False, 1), "weightDataType": ("s", True, "")}

    def execute_node(self, context, graph):
        x, w = self.input_array(context, 0), self.input_array(context, 1)
        c, k, pe = self.get_nodeattr("Channels"), self.get_nodeattr("Kernel"), self.get_nodeattr("PE")
        n, t = x.shape[:2]
        windows = x.reshape(n, t, c // pe, k, pe).transpose(0, 1, 3, 2, 4).reshape(n, t, k, c)
        acc = np.rint(np.einsum("ntkc,ck->ntc", windows.astype(np.float64), w.astype(np.float64))).astype(np.int64)
        self.store(context, self.activate(context, acc))

    # ---- cost
    @classmethod
    def estimate(cls, *, channels: int, kernel: int, frames: int, weight_bits: int, in_bits: int, out_bits: int,
                 pe: int = 1, simd: int = 1, acc_bits: int | None = None, in_signed: bool = False,
                 no_activation: bool = False, levels: int | None = None, res_type: str = "auto", uram: bool = False,
                 threshold_style: str = "parallel", thr_bits: int | None = None,
                 dsp_port_bits: int = R.DSP_PORT_BITS, ram_style: str = "auto") -> NodeCost:
        W, A = weight_bits, in_bits
        nf, sf, acc, thr = R.mac_unit(("Channels", channels, pe), ("Kernel", kernel, simd), W, A, out_bits, acc_bits,
                                      in_signed, no_activation, levels, threshold_style, thr_bits, uram, ram_style)
        dsp = R.uses_dsp(W, A, res_type)
        mem = R.memory(pe * simd * W, nf * sf, ram_style, uram=uram)
        per_pe = (0 if dsp else simd * R.lut_multiplier(W, A)) + (W + A) * (2 * simd - 1) + acc
        lut = int(R.MVAU_C0 + R.MVAU_C1 * (pe * per_pe + thr.logic_lut)) + mem.lut + thr.mem_lut
        ff = 100 + pe * simd * A + pe * ((0 if dsp else simd * (W + A)) + acc + out_bits) + thr.ff
        return NodeCost(cycles=frames * nf * sf, lut=lut, ff=ff, bram18=mem.bram18 + thr.bram18,
                        uram=mem.uram + thr.uram, dsp=pe * simd if dsp else 0)

    def cost_params(self, model, uram: bool = False) -> dict:
        return dict(channels=self.get_nodeattr("Channels"), kernel=self.get_nodeattr("Kernel"), res_type="lut",
                    **self.mac_params(model, uram))

    @classmethod
    def fold_choices(cls, params: dict, pes=None) -> list[dict]:
        """PE (dividing the channels, or the given ones) × SIMD taps (dividing K) × threshold and memory styles."""
        return [{"pe": p, "simd": t} | st for p in (pes or divisors(params["channels"]))
                for t in divisors(params["kernel"]) for st in cls.style_choices(params)]

    def weight_table(self, model) -> np.ndarray:
        """W[C, K] as [PE][C/PE · K/SIMD][SIMD]: entry (g·KF + kf, pe, t) is W[g·PE + pe, kf·SIMD + t]."""
        c, k, pe, simd = (self.get_nodeattr(a) for a in ("Channels", "Kernel", "PE", "SIMD"))
        w = model.get_initializer(self.onnx_node.input[1]).astype(np.int64)
        return w.reshape(c // pe, pe, k // simd, simd).transpose(1, 0, 2, 3).reshape(pe, (c // pe) * (k // simd), simd)

    def check_fold(self) -> None:
        node, a = self.onnx_node, self.get_nodeattr
        if a("noActivation"):
            raise FlowError(f"{node.name} (VVAU): hls/vvau.h always thresholds; a depthwise layer without an "
                            "activation needs a Thresholding-free kernel that does not exist yet")
        check_divides(node, "PE", a("Channels"), a("PE"))
        check_divides(node, "SIMD", a("Kernel"), a("SIMD"))

    def rtl(self, model) -> RtlInstance:
        """hls/rtl/vvau.sv: one weight word per tile g·KF + kf (lane p, tap t at (p·SIMD + t)·W bits)."""
        a = self.get_nodeattr
        self.check_fold()
        c, k, pe, simd = a("Channels"), a("Kernel"), a("PE"), a("SIMD")
        params, tables = self.mac_rtl(model, self.weight_table(model))
        return RtlInstance(self.onnx_node.name, "vvau", ["threshold_unit.sv", "mac.sv", "vvau.sv"],
                           {"C": c, "K": k, "PE": pe, "SIMD": simd} | params | self.weight_style(tables), tables,
                           [rtl_port("in", pe * simd, a("inputDataType"))], [rtl_port("out", pe, a("outputDataType"))])

    # ---- C++
    def kernel(self, model) -> Kernel:
        """hls/vvau.h: weights as [PE][C/PE · K/SIMD][SIMD], thresholds [PE][C/PE][L]."""
        node, a = self.onnx_node, self.get_nodeattr
        c, k, pe, simd = a("Channels"), a("Kernel"), a("PE"), a("SIMD")
        self.check_fold()
        name = identifier(node.name)
        weights = self.weight_table(model)
        tty, thr, levels, bias = self.threshold_table(model, c, pe)
        arrays = {"weights": (ctype(a("weightDataType")), weights), "thresholds": (tty, thr)}
        return Kernel(node.name, node.op_type,
                      f"rubicon::VVAU<{c}, {k}, {pe}, {simd}, {self.frames()}, {levels}, {bias}, "
                      f"{ctype(a('inputDataType'))}, {ctype(a('accDataType'))}, {ctype(a('outputDataType'))}, {name}_P, "
                      f"{self.thr_style_cpp()}>", params_struct(name, arrays),
                      latency=4 + ceil(log2(simd)) if simd > 1 else 4,
                      pragmas=storage_pragmas(name, a("ramStyle"), arrays))


class Thresholding(_Thresholded):
    """Stand-alone multi-threshold on [N, T, C] (e.g. the activation after a residual join).

    Cycles T·C/PE (FINN); thresholds by style (flow.ir.ops.resources)."""

    threshold_input = 1

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {"NumChannels": ("i", True, 0), "PE": ("i", False, 1)}

    def execute_node(self, context, graph):
        self.store(context, self.activate(context, self.input_array(context, 0)))

    # ---- cost
    @classmethod
    def estimate(cls, *, channels: int, frames: int, in_bits: int, out_bits: int, pe: int = 1,
                 levels: int | None = None, uram: bool = False, threshold_style: str = "parallel",
                 thr_bits: int | None = None, ram_style: str = "auto") -> NodeCost:
        R.check_fold("NumChannels", channels, pe, "PE")
        L = levels if levels is not None else R.full_levels(out_bits)
        thr = R.threshold_unit(pe=pe, folds=channels // pe, levels=L, value_bits=in_bits,
                               thr_bits=thr_bits or in_bits, style=threshold_style, uram=uram, ram_style=ram_style)
        return NodeCost(cycles=frames * channels // pe, lut=thr.logic_lut + thr.mem_lut,
                        ff=32 + pe * (in_bits + out_bits) + thr.ff, bram18=thr.bram18, uram=thr.uram)

    def cost_params(self, model, uram: bool = False) -> dict:
        a = self.get_nodeattr
        return dict(channels=a("NumChannels"), frames=self.frames(), in_bits=bits(a("inputDataType")),
                    out_bits=bits(a("outputDataType")), pe=a("PE"), uram=uram, **self.threshold_params(model))

    @classmethod
    def fold_choices(cls, params: dict) -> list[dict]:
        return [{"pe": p} | st for p in divisors(params["channels"]) for st in cls.style_choices(params)]

    def rtl(self, model) -> RtlInstance:
        """hls/rtl/thresholding.sv (tables: threshold_unit.sv)."""
        node, a = self.onnx_node, self.get_nodeattr
        c, pe, idt = a("NumChannels"), a("PE"), a("inputDataType")
        check_divides(node, "PE", c, pe)
        params, tables = self.threshold_rtl(model, c, pe)
        return RtlInstance(node.name, "thresholding", ["threshold_unit.sv", "thresholding.sv"],
                           {"C": c, "PE": pe, "TI_BITS": bits(idt), "TI_SIGNED": int(DataType[idt].signed()),
                            "TO_BITS": bits(a("outputDataType"))} | params, tables,
                           [rtl_port("in", pe, idt)], [rtl_port("out", pe, a("outputDataType"))])

    # ---- C++
    def kernel(self, model) -> Kernel:
        node, a = self.onnx_node, self.get_nodeattr
        c, pe = a("NumChannels"), a("PE")
        check_divides(node, "PE", c, pe)
        name = identifier(node.name)
        tty, thr, levels, bias = self.threshold_table(model, c, pe)
        arrays = {"thresholds": (tty, thr)}
        return Kernel(node.name, node.op_type,
                      f"rubicon::Thresholding<{c}, {pe}, {self.frames()}, {levels}, {bias}, "
                      f"{ctype(a('inputDataType'))}, {ctype(a('outputDataType'))}, {name}_P, {self.thr_style_cpp()}>",
                      params_struct(name, arrays), latency=2, pragmas=storage_pragmas(name, a("ramStyle"), arrays))
