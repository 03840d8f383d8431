"""Dynamic pooling ops (DESIGN §4.5, §6): cumulative sum of moves + triangular resampling.

`DynamicPoolQ` is the node the QONNX export writes (channels-first real values, like the
rest of the exported graph); the lowering turns it into a predictor MVAU and `DynamicPool`.

`DynamicPool`, the dataflow op:

Inputs, in order:
  0. features [N, T, C]   unsigned integers (`inputDataType`, UINTb), the quantized features
  1. ab       [N, T, 2]   signed integer accumulators a (importance), b (move) of the
                          predictor's pointwise MVAU (`predDataType`)
  2. luts     [2, 2^LutBits] initializer: row 0 importance table, row 1 move table
  3. thresholds [C, 2^outBits − 1] initializer, every entry ≥ 1 (requantization)
Outputs, in order:
  0. frames   [N, Lmax, C] (`outputDataType`, UINTb); frames at or past the count are 0
  1. count    [N] valid frames, min(⌊p_T⌋ + 2, Lmax) (UINT, bitlen(Lmax) bits)
  2. overflow [N] 1 when ⌊p_T⌋ + 2 > Lmax (the chunk needed more frames than Lmax) (BINARY)

The arithmetic and every width are those of `flow.nn.dynamic_pool` (its module docstring);
the node attributes carry the `DynamicPoolFormat` fields (`format_attributes` writes them).
"""
import numpy as np
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp

from flow.ir.ops import resources as R
from flow.ir.ops.base import DataflowOp, bits, check_range, divisors, zeros_node
from flow.ir.ops.cpp import ctype, identifier
from flow.ir.ops.kernel import Kernel, check_divides, folded_thresholds, params_struct
from flow.ir.ops.resources import NodeCost
from flow.ir.ops.rtl import RtlInstance, StreamPort
from flow.numerics.dynamic_pool import FORMAT_ATTRIBUTES, DynamicPoolFormat, dynamic_pool_int


class DynamicPoolQ(CustomOp):
    """Exported dynamic pooling: features f [N, C, T] (real, = ints · FeatureScale) and the
    predictor's bias-free accumulators [N, 2, T] (real, = ints · AccScale) → frames
    [N, C, Lmax] (real, = ints · OutScale). The integers are `dynamic_pool_int` of f and acc + Bias."""

    def get_nodeattr_types(self):
        return {attr: ("i", True, 0) for attr in FORMAT_ATTRIBUTES} | {
            "FeatureBits": ("i", True, 0), "OutBits": ("i", True, 0), "NumChannels": ("i", True, 0),
            "Luts": ("ints", True, []), "Thresholds": ("ints", True, []), "Bias": ("ints", True, []),
            "FeatureScale": ("f", True, 0.0), "AccScale": ("floats", True, []), "OutScale": ("f", True, 0.0)}

    def get_format(self) -> DynamicPoolFormat:
        return DynamicPoolFormat(feature_bits=self.get_nodeattr("FeatureBits"), out_bits=self.get_nodeattr("OutBits"),
                                 **{field: self.get_nodeattr(attr) for attr, field in FORMAT_ATTRIBUTES.items()})

    def tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """LUTs [2, 2^K], thresholds [levels] and the integer bias [2] of a and b."""
        fmt = self.get_format()
        luts = np.asarray(self.get_nodeattr("Luts"), dtype=np.int64).reshape(2, fmt.lut_size)
        return luts, np.asarray(self.get_nodeattr("Thresholds"), dtype=np.int64), np.asarray(self.get_nodeattr("Bias"), dtype=np.int64)

    def integer_inputs(self, f: np.ndarray, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features [N, C, T] and predictor accumulators with the bias [N, 2, T] as integers."""
        f_int = np.rint(np.asarray(f, dtype=np.float64) / self.get_nodeattr("FeatureScale")).astype(np.int64)
        scale = np.asarray(self.get_nodeattr("AccScale"), dtype=np.float64)[None, :, None]
        acc_int = np.rint(np.asarray(acc, dtype=np.float64) / scale).astype(np.int64)
        return f_int, acc_int + self.tables()[2][None, :, None]

    def run(self, f: np.ndarray, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Integer frames [N, C, Lmax], count [N] and overflow [N] of real inputs."""
        fmt = self.get_format()
        luts, thresholds, _ = self.tables()
        f_int, ab = self.integer_inputs(f, acc)
        rows = [dynamic_pool_int(f_int[i].T, ab[i, 0], ab[i, 1], fmt, luts, thresholds) for i in range(len(f_int))]
        frames = np.stack([r[0].T for r in rows])
        return frames, np.array([r[1] for r in rows]), np.array([int(r[2]) for r in rows])

    def make_shape_compatible_op(self, model):
        n = model.get_tensor_shape(self.onnx_node.input[0])[0]
        return zeros_node(self.onnx_node.output[0], (n, self.get_nodeattr("NumChannels"), self.get_nodeattr("Lmax")))

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], DataType["FLOAT32"])

    def execute_node(self, context, graph):
        frames, _, _ = self.run(context[self.onnx_node.input[0]], context[self.onnx_node.input[1]])
        context[self.onnx_node.output[0]] = (frames * self.get_nodeattr("OutScale")).astype(np.float32)

    def verify_node(self):
        return [f"{self.onnx_node.name}: ok"]


class DynamicPool(DataflowOp):
    """Features [N, T, C] + predictor accumulators [N, T, 2] → frames [N, Lmax, C], count [N], overflow [N].

    Two stream inputs (features, {a, b}); one stream output (frames); count and overflow leave per
    chunk in the output trailer."""

    stream_inputs = 2
    stream_outputs = 1

    def get_nodeattr_types(self):
        return super().get_nodeattr_types() | {
            "NumChannels": ("i", True, 0), "PE": ("i", False, 1), "predDataType": ("s", False, "INT32"),
            "Lmax": ("i", True, 0), "LutBits": ("i", True, 8), "AShift": ("i", False, 0), "BShift": ("i", False, 0),
            "WeightFracBits": ("i", True, 8), "MoveFracBits": ("i", True, 8), "MoveIntBits": ("i", True, 1),
            "ProdShift": ("i", False, 0), "AccBits": ("i", True, 32)}

    def in_width_of(self, index: int) -> int:
        """Features come PE channels per beat; the predictor's {a, b} one pair per beat."""
        return 2 if index == 1 else self.in_width()

    def get_format(self) -> DynamicPoolFormat:
        dts = {}
        for attr in ("inputDataType", "outputDataType"):
            dt = DataType[self.get_nodeattr(attr)]
            if dt.signed() or not dt.is_integer():
                raise ValueError(f"{self.onnx_node.name}: {attr} must be an unsigned integer type (got {dt.name})")
            dts[attr] = dt.bitwidth()
        fmt = DynamicPoolFormat(feature_bits=dts["inputDataType"], out_bits=dts["outputDataType"],
                                **{field: self.get_nodeattr(attr) for attr, field in FORMAT_ATTRIBUTES.items()})
        try:
            fmt.check()
        except ValueError as exc:
            raise ValueError(f"{self.onnx_node.name}: {exc}") from None
        return fmt

    def out_shape(self, model):
        n, _ = self.get_nodeattr("numInputVectors")
        return (n, self.get_nodeattr("Lmax"), self.get_nodeattr("NumChannels"))

    def infer_node_datatype(self, model):
        out, count, overflow = self.onnx_node.output
        model.set_tensor_datatype(out, DataType[self.get_nodeattr("outputDataType")])
        model.set_tensor_datatype(count, DataType[f"UINT{max(1, self.get_nodeattr('Lmax').bit_length())}"])
        model.set_tensor_datatype(overflow, DataType["BINARY"])

    def verify_node(self):
        info = []
        c, pe = self.get_nodeattr("NumChannels"), self.get_nodeattr("PE")
        if pe < 1 or c % pe:
            info.append(f"{self.onnx_node.name}: PE {pe} must divide NumChannels {c}")
        if len(self.onnx_node.input) != 4 or len(self.onnx_node.output) != 3:
            info.append(f"{self.onnx_node.name}: needs inputs (features, ab, luts, thresholds) "
                        "and outputs (frames, count, overflow)")
        try:
            self.get_format()
        except ValueError as exc:
            info.append(str(exc))
        return info or [f"{self.onnx_node.name}: ok"]

    def execute_node(self, context, graph):
        name = self.onnx_node.name
        fmt = self.get_format()
        feats, ab = self.input_array(context, 0), self.input_array(context, 1)
        luts, thresholds = self.input_array(context, 2), self.input_array(context, 3)
        n, t, c = feats.shape
        if c != self.get_nodeattr("NumChannels") or ab.shape != (n, t, 2):
            raise ValueError(f"{name}: features {feats.shape} and ab {ab.shape} do not match NumChannels "
                             f"{self.get_nodeattr('NumChannels')} and [N, T, 2]")
        check_range(name, feats, self.get_nodeattr("inputDataType"))
        check_range(name, ab, self.get_nodeattr("predDataType"))
        frames = np.zeros((n, fmt.lmax, c), dtype=np.int64)
        count = np.zeros(n, dtype=np.int64)
        overflow = np.zeros(n, dtype=np.int64)
        for row in range(n):
            try:
                frames[row], count[row], overflow[row] = dynamic_pool_int(feats[row], ab[row, :, 0], ab[row, :, 1],
                                                                          fmt, luts, thresholds)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        check_range(name, frames, self.get_nodeattr("outputDataType"))
        out, count_name, overflow_name = self.onnx_node.output
        context[out], context[count_name], context[overflow_name] = frames, count, overflow

    # ---- cost
    @classmethod
    def estimate(cls, *, channels: int, frames: int, feature_bits: int, out_bits: int, pe: int = 1, lut_bits: int = 8,
                 weight_frac_bits: int = 8, move_frac_bits: int = 8, move_int_bits: int = 1, acc_bits: int = 32,
                 lmax: int = 0, pred_bits: int = 32, levels: int | None = None, uram: bool = False) -> NodeCost:
        """Own model. Cycles: the kernel (hls/dynamic_pool.h) takes (C/PE)·(Lmax + Z) per chunk, Z =
        input frames that do not reach a new output frame, which is data-dependent; since Z ≤ T_in,
        (C/PE)·(T_in + Lmax) bounds it, and that is the estimate (calibration against the cycle
        simulation tightens it). Per lane: the product w·f and its two resampling products, two
        saturating accumulators (frames j, j+1) and the requantization thresholds; shared: the two
        sigmoid tables, the position adder and the frame control."""
        R.check_fold("NumChannels", channels, pe, "PE")
        F, Fw, I = move_frac_bits, weight_frac_bits, move_int_bits
        L = levels if levels is not None else R.full_levels(out_bits)
        products = ((Fw, feature_bits), (Fw + feature_bits, F + 1), (Fw + feature_bits, F + 1))
        mult = sum(R.lut_multiplier(w, x) for w, x in products if not R.uses_dsp(w, x))
        dsp = pe * sum(R.uses_dsp(w, x) for w, x in products)
        pos_bits = F + max(lmax, 1).bit_length()
        mems = (R.memory(2 * pe * acc_bits, channels // pe, uram=uram),     # accumulators of frames j, j+1
                R.memory(pe * L * acc_bits, channels // pe, uram=uram),     # requantization thresholds
                R.memory(Fw, 2 ** lut_bits), R.memory(F + I, 2 ** lut_bits))  # importance and move tables
        mem_lut, bram, ur = R.mem_cost(*mems)
        lut = 200 + 2 * pred_bits + pos_bits + pe * (mult + 2 * acc_bits + L * acc_bits) + mem_lut
        ff = 100 + 2 * pred_bits + pos_bits + pe * (feature_bits + 2 * acc_bits + out_bits)
        return NodeCost(cycles=(frames + lmax) * channels // pe, lut=lut, ff=ff, bram18=bram, uram=ur, dsp=dsp)

    def cost_params(self, model, uram: bool = False) -> dict:
        a = self.get_nodeattr
        thresholds = model.get_initializer(self.onnx_node.input[3]) if len(self.onnx_node.input) > 3 else None
        return dict(channels=a("NumChannels"), frames=self.frames(), feature_bits=bits(a("inputDataType")),
                    out_bits=bits(a("outputDataType")), pe=a("PE"), lut_bits=a("LutBits"),
                    weight_frac_bits=a("WeightFracBits"), move_frac_bits=a("MoveFracBits"),
                    move_int_bits=a("MoveIntBits"), acc_bits=a("AccBits"), lmax=a("Lmax"),
                    pred_bits=bits(a("predDataType")),
                    levels=None if thresholds is None else int(np.asarray(thresholds).shape[-1]), uram=uram)

    @classmethod
    def fold_choices(cls, params: dict) -> list[dict]:
        return [{"pe": p} for p in divisors(params["channels"])]

    # ---- C++
    def kernel(self, model) -> Kernel:
        """hls/dynamic_pool.h; its side stream {count, overflow} is the `frame_count` output."""
        node, a = self.onnx_node, self.get_nodeattr
        fmt = self.get_format()
        c, pe = a("NumChannels"), a("PE")
        check_divides(node, "PE", c, pe)
        name = identifier(node.name)
        luts = model.get_initializer(node.input[2]).astype(np.int64)
        tty, thr, levels = folded_thresholds(model.get_initializer(node.input[3]), c, pe)
        params = params_struct(name, {"w_lut": (f"ap_uint<{fmt.weight_frac_bits}>", luts[0]),
                                      "m_lut": (f"ap_uint<{fmt.move_frac_bits + fmt.move_int_bits}>", luts[1]),
                                      "thresholds": (tty, thr)})
        frames, count = node.output[0], node.output[1]
        return Kernel(node.name, node.op_type,
                      f"rubicon::DynamicPool<{c}, {pe}, {self.frames()}, {fmt.lmax}, {fmt.lut_bits}, {fmt.a_shift}, "
                      f"{fmt.b_shift}, {fmt.weight_frac_bits}, {fmt.move_frac_bits}, {fmt.move_int_bits}, "
                      f"{fmt.prod_shift}, {fmt.acc_bits}, {levels}, {ctype(a('inputDataType'))}, "
                      f"{ctype(a('predDataType'))}, {ctype(a('outputDataType'))}, {name}_P>",
                      params, outputs=[frames, count], latency=2,
                      words={count: (f"ap_uint<{fmt.count_bits}>", 2)}, side_outputs=[count])

    # ---- RTL
    def rtl(self, model) -> RtlInstance:
        """hls/rtl/dynamic_pool.sv: ports feat (PE features), ab ({b, a}), out (PE frames' elements) and side
        ({overflow, count}); thresholds [PE][C/PE][L] clipped to acc_max + 1 (an accumulator never exceeds
        acc_max, so every comparison is kept and they fit ACC_BITS + 1 unsigned bits)."""
        node, a = self.onnx_node, self.get_nodeattr
        fmt = self.get_format()
        c, pe = a("NumChannels"), a("PE")
        luts = model.get_initializer(node.input[2]).astype(np.int64)
        _, thr, levels = folded_thresholds(np.minimum(model.get_initializer(node.input[3]).astype(np.int64),
                                                      fmt.acc_max + 1), c, pe)
        pred_bits = bits(a("predDataType"))
        params = {"C": c, "PE": pe, "T_IN": self.frames(), "LMAX": fmt.lmax, "FEAT_BITS": fmt.feature_bits,
                  "PRED_BITS": pred_bits, "OUT_BITS": fmt.out_bits, "LEVELS": levels, "LUT_BITS": fmt.lut_bits,
                  "A_SHIFT": fmt.a_shift, "B_SHIFT": fmt.b_shift, "WEIGHT_FRAC_BITS": fmt.weight_frac_bits,
                  "MOVE_FRAC_BITS": fmt.move_frac_bits, "MOVE_INT_BITS": fmt.move_int_bits,
                  "PROD_SHIFT": fmt.prod_shift, "ACC_BITS": fmt.acc_bits}
        tables = {"W_LUT_FILE": (fmt.weight_frac_bits, luts[0]),
                  "M_LUT_FILE": (fmt.move_frac_bits + fmt.move_int_bits, luts[1]),
                  "THR_FILE": (fmt.acc_bits + 1, thr)}
        return RtlInstance(node.name, "dynamic_pool", ["dynamic_pool.sv"], params, tables,
                           inputs=[StreamPort("feat", pe, fmt.feature_bits, False), StreamPort("ab", 2, pred_bits, True)],
                           outputs=[StreamPort("out", pe, fmt.out_bits, False),
                                    StreamPort("side", 1, max(1, fmt.lmax.bit_length()) + 1, False)])
