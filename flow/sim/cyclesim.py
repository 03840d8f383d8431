"""Running the cycle simulator, reading its report, and sizing FIFOs from it.

The simulator (generated cyclesim.cpp) steps every kernel once per clock; its JSON report
gives the cycle at which each chunk's first beat entered and last beat left, per-kernel
busy/starved/blocked counts, and every FIFO's high-water mark. FIFO sizing follows FINN's
idea: simulate with deep FIFOs, then give each FIFO the depth it actually reached.
"""
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from flow.codegen.compile import compile_program
from flow.codegen.csim import Comparison, compare_beats
from flow.codegen.network import Network
from flow.errors import FlowError

DEEP = 1 << 20  # "unbounded" for the sizing run
STATES = {0: "busy", 1: "starved", 2: "blocked"}
SLACK = 0.01  # sized FIFOs may cost this fraction of the unbounded throughput
# A FIFO is deepened when its producer is blocked and its consumer starved for more than this fraction
# of the cycles each. Well below SLACK: at 1% a bottleneck blocked 0.93% of the time was never
# deepened, the loop stalled 1.5% slow and every FIFO fell back to its cap (SkipClip arm b).
STALL = 0.002


@dataclass
class CycleReport:
    chunks: int
    cycles: int
    chunk_first_in: list[int]
    chunk_last_out: list[int]
    nodes: dict[str, dict]
    fifos: dict[str, dict]
    comparison: Comparison | None = None

    @classmethod
    def from_raw(cls, raw: dict) -> "CycleReport":
        """From the simulator's JSON report."""
        return cls(raw["chunks"], raw["cycles"], raw["chunk_first_in"], raw["chunk_last_out"], raw["nodes"], raw["fifos"])

    @property
    def latency_cycles(self) -> int:
        """First input beat of chunk 0 to its last output beat."""
        return self.chunk_last_out[0] - self.chunk_first_in[0] + 1

    @property
    def cycles_per_chunk(self) -> float:
        """Steady state: spacing of the last output beats over the chunks after the first."""
        if self.chunks < 2:
            return float(self.latency_cycles)
        return (self.chunk_last_out[-1] - self.chunk_last_out[0]) / (self.chunks - 1)

    def as_dict(self) -> dict:
        out = {"latency_cycles": self.latency_cycles, "cycles_per_chunk": self.cycles_per_chunk, "chunks": self.chunks,
               "total_cycles": self.cycles, "nodes": self.nodes,
               "fifos": {k: {"depth": v["depth"], "high_water": v["high_water"]} for k, v in self.fifos.items()}}
        if self.comparison is not None:
            out |= self.comparison.as_dict()
        return out


def _deadlock_message(report: dict) -> str:
    stuck = [f"{name} ({STATES.get(v['state'], 'idle')})" for name, v in report["nodes"].items() if v["state"] in (1, 2)]
    full = [f"{name} ({v['occupancy']}/{v['depth']})" for name, v in report["fifos"].items() if v["occupancy"] >= v["depth"]]
    return (f"deadlock after {report['cycles']} cycles: nodes waiting: {', '.join(stuck)}; full FIFOs: {', '.join(full) or 'none'}. "
            "A FIFO on a parallel branch is too shallow; rerun the build so FIFO sizing deepens it")


def _simulate(hls_dir: Path, net: Network, vectors: Path, depths: dict[str, int] | None, tag: str) -> tuple[dict, Path]:
    exe = compile_program(hls_dir / "cyclesim.cpp", hls_dir / "cyclesim")
    depth_file = vectors / f"{tag}_depths.txt"
    depth_file.write_text("".join(f"{name} {d}\n" for name, d in (depths or {}).items()))
    report_file, beats_out = vectors / f"{tag}_report.json", vectors / f"{tag}_output_beats.npy"
    run = subprocess.run([str(exe), str(vectors / "input_beats.npy"), str(beats_out), str(depth_file), str(report_file)],
                         capture_output=True, text=True)
    if run.returncode not in (0, 3):
        raise FlowError(f"cycle simulation failed ({exe}): {run.stderr.strip()[-2000:]}")
    return json.loads(report_file.read_text()), beats_out


def run_cyclesim(hls_dir: Path, net: Network, vectors: Path, depths: dict[str, int] | None = None,
                 tag: str = "cyclesim") -> CycleReport:
    """Simulate the input beats in `vectors`; compare the outputs with golden.npy."""
    raw, beats_out = _simulate(hls_dir, net, vectors, depths, tag)
    if raw["deadlock"]:
        raise FlowError(_deadlock_message(raw))
    report = CycleReport.from_raw(raw)
    _, report.comparison = compare_beats(net, vectors, beats_out, tag)
    return report


def _ends(net: Network) -> dict[str, tuple[str, str]]:
    """Stream ident → (producer, consumer) kernel names as the simulator reports them."""
    producer = {net.streams[net.input_stream].ident: "input_adapter"}
    consumer = {net.streams[t].ident: "output_adapter" for t in [net.output_stream, net.side_stream] if t}
    for k in net.kernels:
        for t in k.outputs:
            producer[net.streams[t].ident] = k.ident
        for t in k.inputs:
            consumer[net.streams[t].ident] = k.ident
    return {s: (producer[s], consumer[s]) for s in producer}


def _waiting_branches(raw: dict, caps: dict[str, int], ends: dict[str, tuple[str, str]]) -> list[str]:
    """In a deadlock, the FIFOs that are full while their consumer starves on another input: the
    short branch of a fork/join (a residual skip, a dynamic pool's predictor) holding words the
    join cannot take until the long branch delivers, which it cannot while the fork is blocked by
    this very FIFO. Full FIFOs whose consumer is blocked (the main path behind the fork) are
    victims, not causes, and are left alone."""
    return [n for n, v in raw["fifos"].items()
            if n in caps and v["occupancy"] >= v["depth"] and raw["nodes"][ends[n][1]]["state"] == 1]


def size_fifos(hls_dir: Path, net: Network, vectors: Path, rounds: int = 16) -> tuple[dict[str, int], CycleReport]:
    """The shallowest FIFOs (found by doubling) that keep the throughput of unbounded FIFOs.

    A run with deep FIFOs gives the best cycles per chunk and, per FIFO, the most it can ever
    need (its high-water mark, its cap): with every depth at its cap no write the deep run made
    is refused, so the schedule is the deep run's. Starting from depth 2, a deadlock sets the
    waiting branch of each stuck fork/join straight to its cap (doubling it would take a round
    per doubling, one block after the other: a deep residual design ran out of rounds); then a
    FIFO is doubled while its two ends take turns waiting on it — the producer blocked by it
    and the consumer starved — until the design reaches the unbounded throughput within SLACK.
    If that does not converge, every FIFO gets its cap."""
    deep_raw, _ = _simulate(hls_dir, net, vectors, {s.ident: DEEP for s in net.streams.values()}, "cyclesim_deep")
    if deep_raw["deadlock"]:
        raise FlowError(_deadlock_message(deep_raw))
    deep = CycleReport.from_raw(deep_raw)
    caps = {name: max(2, int(v["high_water"])) for name, v in deep.fifos.items() if name.startswith("s_")}
    ends = _ends(net)
    depths = {name: 2 for name in caps}

    def fast(raw: dict) -> bool:
        return raw["chunks"] < 2 or CycleReport.from_raw(raw).cycles_per_chunk <= deep.cycles_per_chunk * (1 + SLACK)

    for _ in range(rounds):
        raw, _ = _simulate(hls_dir, net, vectors, depths, "cyclesim_sizing")
        if raw["deadlock"]:
            grow = {n: caps[n] for n in _waiting_branches(raw, caps, ends)}
        else:
            if fast(raw):
                break
            cycles = raw["cycles"] or 1
            frac = lambda node, key: raw["nodes"][node][key] / cycles  # noqa: E731
            grow = {n: min(caps[n], depths[n] * 2) for n in caps
                    if frac(ends[n][0], "blocked") > STALL and frac(ends[n][1], "starved") > STALL}
        grow = {n: d for n, d in grow.items() if depths[n] < caps[n]}
        if not grow:
            depths = dict(caps)
            break
        depths |= grow
    else:  # out of rounds: the last growth was never simulated, and may still deadlock or be slow
        raw, _ = _simulate(hls_dir, net, vectors, depths, "cyclesim_sizing")
        if raw["deadlock"] or not fast(raw):
            depths = dict(caps)
    sized = run_cyclesim(hls_dir, net, vectors, depths)
    if sized.cycles_per_chunk > deep.cycles_per_chunk * (1 + SLACK):
        depths = dict(caps)
        sized = run_cyclesim(hls_dir, net, vectors, depths)
    return depths, sized
