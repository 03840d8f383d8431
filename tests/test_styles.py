"""Implementation styles of the compute kernels (packed DSP multipliers, binary-search thresholds,
VVAU taps per cycle), each bit-exact with the golden model; the `__SYNTHESIS__` branch compiled
and run; the packing arithmetic checked exhaustively against plain products."""
import subprocess

import numpy as np
import pytest
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp

from conftest import TINY_CHUNK
from flow.codegen.compile import compile_program
from flow.codegen.csim import run_csim, write_vectors
from flow.codegen.project import write_sources
from flow.hw.fold import apply_configs, graph_units, insert_dwcs, insert_fifos, with_dsp_ports
from flow.hw.targets import load_target
from flow.ir.ops.resources import dsp_packing
from flow.paths import REPO_ROOT
from flow.sim.cyclesim import size_fifos
from test_hls import edge_and_random_inputs

PACKING_TEST = r"""
#include <cstdio>
#include <cstdlib>
#include "common.h"
// argv: G lanes wmin wmax xmin xmax chain; every (w_0..w_{lanes-1}, x) is packed and multiplied, the
// product added `chain` times (the worst case of a DSP chain: identical extreme terms), unpacked.
int main(int argc, char **argv) {
    const int G = atoi(argv[1]), lanes = atoi(argv[2]);
    const long long wmin = atoll(argv[3]), wmax = atoll(argv[4]), xmin = atoll(argv[5]), xmax = atoll(argv[6]);
    const long long chain = atoll(argv[7]);
    long long w[8] = {0}, checked = 0, wrong = 0;
    for (int i = 0; i < lanes; i++) w[i] = wmin;
    while (true) {
        long long packed = 0;
        for (int i = 0; i < lanes; i++) packed += w[i] * (1LL << (i * G));
        for (long long x = xmin; x <= xmax; x++) {
            long long product = 0;
            for (long long c = 0; c < chain; c++) product += packed * x;
            for (int i = 0; i < lanes; i++) {
                long long got = 0;
                switch (G) {
                    case 8: got = rubicon::packed_lane<8>(product, i); break;
                    case 10: got = rubicon::packed_lane<10>(product, i); break;
                    case 11: got = rubicon::packed_lane<11>(product, i); break;
                    case 13: got = rubicon::packed_lane<13>(product, i); break;
                    case 16: got = rubicon::packed_lane<16>(product, i); break;
                    case 20: got = rubicon::packed_lane<20>(product, i); break;
                    default: return 3;
                }
                checked++;
                if (got != chain * w[i] * x) wrong++;
            }
        }
        int i = 0;
        while (i < lanes && w[i] == wmax) w[i++] = wmin;
        if (i == lanes) break;
        w[i]++;
    }
    printf("%lld %lld\n", checked, wrong);
    return 0;
}
"""


@pytest.fixture(scope="module")
def packing_exe(tmp_path_factory):
    d = tmp_path_factory.mktemp("packing")
    (d / "packing.cpp").write_text(PACKING_TEST)
    return compile_program(d / "packing.cpp", d / "packing", include_dirs=[REPO_ROOT / "hls"])


@pytest.mark.parametrize("port_bits", [25, 27])
def test_packed_words_fit_their_width_and_the_dsp_port(port_bits):
    """Σ w_i·2^(i·spacing) at the weights' extremes, in Python integers, fits packed_bits signed bits (the
    table type the synthesised C++ stores, ap_int<packed_bits>) and packed_bits fits the A port. All lanes
    at the most negative weight once needed one bit more than the packing gave (W4, A4, SIMD 4: −8,396,808
    in a 24-bit word)."""
    for weight_bits in range(2, 9):
        for in_bits in range(2, 9):
            for simd in (1, 2, 4, 32):
                pk = dsp_packing(weight_bits, in_bits, port_bits, simd)
                assert pk.packed_bits <= port_bits
                for w in (-(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1):
                    word = sum(w << (i * pk.spacing) for i in range(pk.lanes))
                    assert -(1 << (pk.packed_bits - 1)) <= word < (1 << (pk.packed_bits - 1)), (weight_bits, in_bits, simd, w)


@pytest.mark.parametrize("weight_bits, in_bits, signed_in, simd", [
    (4, 4, False, 1), (6, 4, False, 1), (8, 8, True, 1), (4, 4, False, 32), (6, 4, False, 8), (8, 8, True, 12)])
def test_packed_dsp_lanes_are_the_plain_products(packing_exe, weight_bits, in_bits, signed_in, simd):
    """Every weight combination (subsets around the corners and zero where that is too many) and
    every input value: each lane equals SIMD·w·x for a chain of SIMD identical terms, the largest
    sum a lane can hold, at the extremes (most negative weight × largest input) too."""
    pk = dsp_packing(weight_bits, in_bits, 25, simd)
    assert pk.packed_bits <= 25 and pk.lanes * pk.spacing <= 48
    wmin, wmax = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
    xmin, xmax = (-(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1) if signed_in else (0, (1 << in_bits) - 1)
    if weight_bits == 8:  # 2 lanes × 256² weights × 256 inputs: keep the corners and a band around zero
        ranges = [(wmin, wmin + 3), (-3, 3), (wmax - 3, wmax)]
    else:
        ranges = [(wmin, wmax)]
    for lo, hi in ranges:
        out = subprocess.run([str(packing_exe), str(pk.spacing), str(pk.lanes), str(lo), str(hi), str(xmin), str(xmax),
                              str(simd)],
                             capture_output=True, text=True, check=True).stdout.split()
        checked, wrong = int(out[0]), int(out[1])
        assert checked == pk.lanes * (hi - lo + 1) ** pk.lanes * (xmax - xmin + 1) and wrong == 0


def test_packing_without_the_sign_correction_is_wrong(packing_exe):
    """The correction is needed: a lane read as plain G-bit field is off whenever a lower lane is negative."""
    pk = dsp_packing(4, 4, 25)
    packed = (-8) + 7 * (1 << pk.spacing)           # lane 0 = −8, lane 1 = 7
    product = packed * 15
    field = (product >> pk.spacing) & ((1 << pk.spacing) - 1)
    assert field == 7 * 15 - 1                      # the borrow from lane 0
    assert pk.pack(np.array([[[-8]], [[7]]]))[0, 0, 0] == packed


def _styled(model, target, pick):
    """Every unit at the config `pick` chooses among its configs."""
    units = graph_units(with_dsp_ports(model, target))
    return insert_fifos(insert_dwcs(apply_configs(with_dsp_ports(model, target), units,
                                                  [pick(u.configs) for u in units])))


def _most(configs, **style):
    """The most parallel config whose compute node has the given styles (any config if none has)."""
    def parallel(cfg):
        return sum(v for f in cfg.values() for k, v in f.items() if k in ("pe", "simd", "taps"))
    fitting = [i for i, c in enumerate(configs) if any(all(f.get(k) == v for k, v in style.items() if k in f)
                                                       and any(k in f for k in style) for f in c.values())]
    pool = fitting or range(len(configs))
    return max(pool, key=lambda i: parallel(configs[i]))


def _extreme_weights(model, node_name):
    """Two input rows of one 4-bit MVAU at the extremes (−8 and 7; their products nearly cancel,
    so the thresholds still see ordinary sums), with a 32-bit accumulator."""
    node = next(n for n in model.graph.node if n.name == node_name)
    w = model.get_initializer(node.input[1]).copy()
    w[0, :], w[1, :] = -8, 7
    model.set_initializer(node.input[1], w)
    getCustomOp(node).set_nodeattr("accDataType", "INT32")


@pytest.mark.parametrize("styles, synthesis", [
    (dict(res_type="dsp", threshold_style="search"), True),   # exact-width packed words at the weight extremes
    (dict(res_type="lut", threshold_style="search"), True),
])
def test_styles_bit_exact_in_csim_and_cycle_sim(tiny, tmp_path, styles, synthesis):
    model = tiny
    if styles["res_type"] == "dsp":
        model = type(tiny)(tiny.model.__deepcopy__())
        four_bit = next(n.name for n in model.graph.node if n.op_type == "MVAU"
                        and getCustomOp(n).get_nodeattr("weightDataType") == "INT4")
        _extreme_weights(model, four_bit)
    folded = _styled(model, load_target("pynq-z2"), lambda cfgs: _most(cfgs, **styles))
    attrs = [(n.op_type, getCustomOp(n)) for n in folded.graph.node]
    mvaus = [op for t, op in attrs if t == "MVAU"]
    assert all(op.get_nodeattr("resType") == styles["res_type"] for op in mvaus)
    thresholded = [op for t, op in attrs if t in ("MVAU", "VVAU", "Thresholding") and not op.get_nodeattr("noActivation")]
    assert thresholded and all(op.get_nodeattr("thresholdStyle") == "search" for op in thresholded)
    assert any(op.get_nodeattr("SIMD") > 1 for t, op in attrs if t == "VVAU")  # taps per cycle
    if styles["res_type"] == "dsp":
        assert max(op.dsp_packing().lanes for op in mvaus) >= 2  # several products per DSP
    net = write_sources(folded, tmp_path / "hls")
    ints = edge_and_random_inputs(3, TINY_CHUNK, 7)
    golden = write_vectors(folded, net, ints, tmp_path / "vectors")
    assert len(np.unique(golden)) > 20
    produced, cmp = run_csim(tmp_path / "hls", net, tmp_path / "vectors", synthesis_types=synthesis)
    assert cmp.bit_exact and cmp.elements == golden.size and np.array_equal(produced, golden)
    _, report = size_fifos(tmp_path / "hls", net, tmp_path / "vectors")
    assert report.comparison.bit_exact and report.comparison.elements == golden.size


def test_extreme_weights_reach_the_packing_corners(tiny):
    """The DSP case above really multiplies the most negative weight by the largest activation."""
    model = type(tiny)(tiny.model.__deepcopy__())
    name = next(n.name for n in model.graph.node if n.op_type == "MVAU"
                and getCustomOp(n).get_nodeattr("weightDataType") == "INT4")
    _extreme_weights(model, name)
    node = next(n for n in model.graph.node if n.name == name)
    w = model.get_initializer(node.input[1])
    assert w.min() == -8 and w.max() == 7
    assert DataType[getCustomOp(node).get_nodeattr("inputDataType")].max() == 15
