"""FIFO sizing on a chain of residual blocks: with depths at the deep run's high-water marks the
schedule is the deep run's, and the sizing loop frees every stuck skip branch (one block after
the other) before it runs out of rounds. Four blocks at PE 1 reproduce, in seconds, the deadlock
that the 26-layer, 5-block SkipClip arm d hit: the old loop doubled each skip FIFO once per round
and ran out of rounds."""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_CHUNK
from flow.codegen.csim import write_vectors
from flow.codegen.network import Network
from flow.codegen.project import write_sources
from flow.hw.fold import insert_dwcs, insert_fifos
from flow.sim import cyclesim
from flow.sim.cyclesim import DEEP, run_cyclesim, size_fifos

BLOCKS = 4


@dataclass
class Design:
    hls: Path
    vectors: Path
    net: Network


@pytest.fixture(scope="module")
def residual_chain(tmp_path_factory) -> Design:
    """Stem, BLOCKS residual blocks of two depthwise separable layers, a conv and the head; every
    node at PE = SIMD = 1, so each skip branch must hold a few hundred beats."""
    import torch

    from flow.export.qonnx_export import export_model
    from flow.ir.lower import lower_qonnx
    from flow.nn.config import parse_model
    from flow.nn.model import build_model

    block = {"type": "separable", "channels": 12, "kernel": 5, "groups": "depthwise", "repeat": 2, "residual": True,
             "weight_bits": 4, "act_bits": 4}
    spec = parse_model({"name": "residual_chain", "input": {"act_bits": 8}, "head": {"classes": 5, "weight_bits": 8},
                        "layers": [{"type": "conv", "channels": 12, "kernel": 9, "stride": 3, "weight_bits": 8, "act_bits": 4},
                                   *[block] * BLOCKS,
                                   {"type": "conv", "channels": 8, "kernel": 3, "weight_bits": 4, "act_bits": 4}]})
    torch.manual_seed(0)
    tmp = tmp_path_factory.mktemp("residual_chain")
    folded = insert_fifos(insert_dwcs(lower_qonnx(export_model(build_model(spec).eval(), tmp / "m.onnx", TINY_CHUNK))))
    assert sum(n.op_type == "AddStreams" for n in folded.graph.node) == BLOCKS
    net = write_sources(folded, tmp / "hls")
    write_vectors(folded, net, np.random.default_rng(0).integers(-128, 128, size=(3, TINY_CHUNK))[..., None], tmp / "vectors")
    return Design(tmp / "hls", tmp / "vectors", net)


def _deep(d: Design) -> dict:
    raw, _ = cyclesim._simulate(d.hls, d.net, d.vectors, {s.ident: DEEP for s in d.net.streams.values()}, "deep")
    assert not raw["deadlock"]
    return raw


def test_depths_at_the_high_water_marks_replay_the_deep_run(residual_chain):
    """No FIFO refuses a write the deep run made, so every chunk leaves at the deep run's cycle."""
    deep = _deep(residual_chain)
    caps = {n: max(2, v["high_water"]) for n, v in deep["fifos"].items()}
    report = run_cyclesim(residual_chain.hls, residual_chain.net, residual_chain.vectors, caps, "caps")
    assert report.comparison.bit_exact
    assert report.chunk_last_out == deep["chunk_last_out"] and report.cycles == deep["cycles"]
    assert {n: v["high_water"] for n, v in report.fifos.items()} == {n: v["high_water"] for n, v in deep["fifos"].items()}


def _skip_input(net: Network, join: str) -> str:
    """The join's input from the branch without a sliding window (the residual's 1x1 projection),
    found by walking back to the fork."""
    producer = {t: k for k in net.kernels for t in k.outputs}
    join_inputs = next(k.inputs for k in net.kernels if k.ident == join)
    for t in join_inputs:
        k, windows = producer[t], 0
        while k.op_type != "DuplicateStreams":
            windows += k.op_type == "ConvolutionInputGenerator1D"
            k = producer[k.inputs[0]]
        if windows == 0:
            return net.streams[t].ident
    raise AssertionError(f"{join} has no skip input")


def test_a_deadlock_blames_the_skip_branch_not_the_blocked_main_path(residual_chain):
    """With every FIFO at 2 the first block deadlocks: the FIFO to grow is the join's skip input
    (full, its consumer starving on the main path), not the full FIFOs behind the blocked fork."""
    d = residual_chain
    depths = {s.ident: 2 for s in d.net.streams.values()}
    raw, _ = cyclesim._simulate(d.hls, d.net, d.vectors, depths, "shallow")
    assert raw["deadlock"]
    full = [n for n, v in raw["fifos"].items() if v["occupancy"] >= v["depth"]]
    waiting = cyclesim._waiting_branches(raw, depths, cyclesim._ends(d.net))
    assert waiting == [_skip_input(d.net, "AddStreams_0")]
    assert len(full) > 3  # the main path behind the fork is full too, and is left alone


def test_sizing_frees_every_skip_branch_of_a_chain_of_residual_blocks(residual_chain):
    d = residual_chain
    deep = cyclesim.CycleReport.from_raw(_deep(d))
    caps = {n: max(2, v["high_water"]) for n, v in deep.fifos.items()}
    depths, report = size_fifos(d.hls, d.net, d.vectors)
    assert report.comparison.bit_exact
    assert report.cycles_per_chunk <= deep.cycles_per_chunk * 1.01
    assert all(2 <= depths[n] <= caps[n] for n in depths)
    # sized, not the every-FIFO-at-its-cap fallback: the skip branches are deep, the rest shallow
    skips = {_skip_input(d.net, f"AddStreams_{b}") for b in range(BLOCKS)}
    assert all(depths[n] == caps[n] for n in skips)
    assert sum(depths.values()) < 0.25 * sum(caps.values())


def test_out_of_rounds_falls_back_to_the_high_water_marks(residual_chain):
    """One round frees one block at most; the result is then every FIFO at its cap, never a deadlock."""
    d = residual_chain
    deep = _deep(d)
    depths, report = size_fifos(d.hls, d.net, d.vectors, rounds=1)
    assert depths == {n: max(2, v["high_water"]) for n, v in deep["fifos"].items()}
    assert report.comparison.bit_exact and report.chunk_last_out == deep["chunk_last_out"]
