"""RTL twins of the dataflow ops (hls/rtl/) under Verilator and Yosys, one node at a time:
every output element equal to the op's golden execution, with and without random stalls."""
import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.util.basic import qonnx_make_model

from flow.ir.ops.base import DOMAIN
from flow.ir.ops.rtl import StreamPort
from flow.sim.rtl_op import simulate, synthesize


def single_node(op_type: str, in_shapes: list, out_shapes: list, in_types: list, out_types: list,
                initializers: dict | None = None, **attrs):
    """A graph of one dataflow node (inputs x0.., outputs y0.., initializers by name after the streams)."""
    initializers = initializers or {}
    names_in = [f"x{i}" for i in range(len(in_shapes))] + list(initializers)
    names_out = [f"y{i}" for i in range(len(out_shapes))]
    node = helper.make_node(op_type, names_in, names_out, name=f"{op_type}_0", domain=DOMAIN, **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, s)
                                            for i, s in enumerate(in_shapes)],
                              [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, s) for i, s in enumerate(out_shapes)])
    model = ModelWrapper(qonnx_make_model(graph))
    for i, t in enumerate(in_types):
        model.set_tensor_datatype(f"x{i}", DataType[t])
    for i, t in enumerate(out_types):
        model.set_tensor_datatype(f"y{i}", DataType[t])
    for name, (dtype, values) in initializers.items():
        model.set_initializer(name, np.asarray(values, dtype=np.float32))
        model.set_tensor_datatype(name, DataType[dtype])
    return model, model.graph.node[0]


def golden(model, node, inputs: list[np.ndarray]) -> list[np.ndarray]:
    context = {f"x{i}": x for i, x in enumerate(inputs)} | {k: model.get_initializer(k) for k in node.input
                                                            if model.get_initializer(k) is not None}
    getCustomOp(node).execute_node(context, model.graph)
    return [context[o] for o in node.output]


def check_twin(model, node, inputs, work, stalls=(0, 6)) -> list:
    """The twin's outputs equal the golden's over every element, for each stall setting; the runs."""
    inst = getCustomOp(node).rtl(model)
    want = golden(model, node, inputs)
    runs = []
    for stall in stalls:
        beats = [w.size // p.width for w, p in zip(want, inst.outputs)]
        run = simulate(inst, inputs, beats, work, stall=stall)
        for got, exp in zip(run.outputs, want):
            np.testing.assert_array_equal(got, np.asarray(exp).ravel())
        runs.append(run)
    return runs


def test_stream_port_packs_lanes_little_end_first():
    port = StreamPort("in", 3, 4, True)
    beats = port.pack(np.array([1, -1, -8, 7, 0, 2]))
    # hand-packed: lane p at bits [4p, 4p+4): 0x1 | 0xF << 4 | 0x8 << 8, then 0x7 | 0 | 0x2 << 8
    assert beats == [0x1 | 0xF << 4 | 0x8 << 8, 0x7 | 0x2 << 8]
    assert port.unpack(beats).tolist() == [1, -1, -8, 7, 0, 2]
    with pytest.raises(ValueError, match="exceed 4-bit signed"):
        port.pack(np.array([8, 0, 0]))


@pytest.mark.slow  # the whole-accelerator co-simulation (test_rtlsim.py) runs FIFO twins by default
def test_fifo_twin_is_the_identity_and_keeps_up(tmp_path):
    t, c, pe = 40, 6, 3
    model, node = single_node("StreamingFIFO", [[1, t, c]], [[1, t, c]], ["INT5"], ["INT5"], depth=4,
                              NumChannels=c, PE=pe, inputDataType="INT5", outputDataType="INT5", numInputVectors=[1, t])
    x = np.random.default_rng(0).integers(-16, 16, size=(1, t, c))
    free, stalled = check_twin(model, node, [x], tmp_path)
    beats = t * c // pe
    assert free.cycles == beats + 1 and free.latency == 1  # one beat per cycle once full, one cycle through
    assert stalled.cycles > free.cycles


def test_fifo_twin_synthesizes(tmp_path):
    model, node = single_node("StreamingFIFO", [[1, 8, 8]], [[1, 8, 8]], ["UINT4"], ["UINT4"], depth=16,
                              NumChannels=8, PE=8, inputDataType="UINT4", outputDataType="UINT4", numInputVectors=[1, 8])
    figures = synthesize(getCustomOp(node).rtl(model), tmp_path)
    assert figures["lut"] > 0 and figures["ff"] > 0 and figures["dsp"] == 0
