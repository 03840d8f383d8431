"""AI Engine cost model for Versal targets (cost only: the flow generates no AIE code).

Each MVAU/VVAU layer becomes a cascade of AIE tiles running in a pipeline, as RUBICON maps
layers onto the VCK190 array. A tile does `int8_macs_per_cycle` MACs per cycle (every
operand of ≤ 8 bits uses the int8 lanes; wider ones the int16 rate, a quarter) at a
sustained fraction `efficiency` of peak (vector load/store and window overheads; 0.5 until
measured). A layer needs at least the tiles whose data memory holds its weights (half of each
tile's memory; the rest holds activation windows). The remaining tiles are shared out in
proportion to the MACs, so the pipeline is balanced; the slowest layer sets the throughput.
"""
import math
from dataclasses import dataclass

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from flow.errors import FlowError

EFFICIENCY = 0.5
WEIGHT_MEMORY_SHARE = 0.5


@dataclass
class AieLayer:
    node: str
    macs_per_chunk: int
    weight_bytes: int
    wide: bool          # an operand wider than 8 bits (int16 lanes)
    tiles: int = 0
    cycles_per_chunk: float = 0.0


def _layers(model: ModelWrapper) -> list[AieLayer]:
    layers = []
    for node in model.graph.node:
        if node.op_type not in ("MVAU", "VVAU"):
            continue
        op = getCustomOp(node)
        frames = op.get_nodeattr("numInputVectors")[-1]
        if node.op_type == "MVAU":
            weights = op.get_nodeattr("MW") * op.get_nodeattr("MH")
        else:
            weights = op.get_nodeattr("Channels") * op.get_nodeattr("Kernel")
        bits = max(int("".join(c for c in op.get_nodeattr(a) if c.isdigit())) for a in ("weightDataType", "inputDataType"))
        layers.append(AieLayer(node.name, frames * weights, weights * (1 if bits <= 8 else 2), bits > 8))
    return layers


def aie_cost(model: ModelWrapper, aie: dict, efficiency: float = EFFICIENCY) -> dict:
    """Tiles per layer, cycles per chunk at the AIE clock, chunks/s, for the graph's compute layers."""
    layers = _layers(model)
    if not layers:
        raise FlowError("the graph has no MVAU/VVAU layers to place on AI Engine tiles")
    tile_bytes = aie["memory_kib_per_tile"] * 1024 * WEIGHT_MEMORY_SHARE
    rate = lambda layer: aie["int8_macs_per_cycle"] * (0.25 if layer.wide else 1) * efficiency  # noqa: E731
    for layer in layers:
        layer.tiles = max(1, math.ceil(layer.weight_bytes / tile_bytes))
    spare = aie["tiles"] - sum(layer.tiles for layer in layers)
    if spare < 0:
        raise FlowError(f"the weights need {aie['tiles'] - spare} AI Engine tiles; the array has {aie['tiles']}")
    work = [layer.macs_per_chunk / rate(layer) for layer in layers]
    for _ in range(spare):  # give each spare tile to the current slowest layer
        slowest = max(range(len(layers)), key=lambda i: work[i] / layers[i].tiles)
        layers[slowest].tiles += 1
    for layer, w in zip(layers, work):
        layer.cycles_per_chunk = w / layer.tiles
    cycles = max(layer.cycles_per_chunk for layer in layers)
    bottleneck = max(layers, key=lambda layer: layer.cycles_per_chunk)
    return {"tiles": sum(layer.tiles for layer in layers), "tiles_available": aie["tiles"], "clock_mhz": aie["clock_mhz"],
            "efficiency": efficiency, "cycles_per_chunk": cycles, "bottleneck": bottleneck.node,
            "chunks_per_s": aie["clock_mhz"] * 1e6 / cycles,
            "layers": [{"node": x.node, "tiles": x.tiles, "macs_per_chunk": x.macs_per_chunk,
                        "cycles_per_chunk": x.cycles_per_chunk} for x in layers]}
