"""AI Engine cost model: tiles shared out by MACs, weights respected, throughput from the slowest layer."""
import pytest

from flow.errors import FlowError
from flow.hw.aie import aie_cost

AIE = {"tiles": 400, "clock_mhz": 1250, "int8_macs_per_cycle": 128, "memory_kib_per_tile": 32}


def test_tiles_balance_the_pipeline(tiny):
    cost = aie_cost(tiny, AIE)
    assert cost["tiles"] == 400
    layers = cost["layers"]
    assert all(x["tiles"] >= 1 for x in layers)
    slowest = max(x["cycles_per_chunk"] for x in layers)
    assert cost["cycles_per_chunk"] == slowest
    assert cost["chunks_per_s"] == pytest.approx(1250e6 / slowest)
    for x in layers:  # each layer's cycles are its MACs over its tiles' sustained rate
        assert x["cycles_per_chunk"] == pytest.approx(x["macs_per_chunk"] / (x["tiles"] * 128 * 0.5))


def test_more_tiles_are_faster_and_weights_need_memory(tiny):
    small, big = aie_cost(tiny, AIE | {"tiles": 40}), aie_cost(tiny, AIE)
    assert big["cycles_per_chunk"] < small["cycles_per_chunk"]
    with pytest.raises(FlowError, match="AI Engine tiles; the array has 2"):
        aie_cost(tiny, AIE | {"tiles": 2})
