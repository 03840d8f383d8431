"""Yosys resource counts of a build, node by node (`rubicon synth BUILD_DIR`).

Every node of the build's final graph (FIFOs included, at their sized depths) is synthesised
out of context as its RTL twin (`op.rtl`, hls/rtl/) with `synth_xilinx` for the target's family
(xc7 for Zynq-7000, xcup for UltraScale+). Nodes run in parallel; each result is cached under
<build>/synth/<node>/ by a key over the twin's sources, parameters, tables and the family, so a
rerun only synthesises what changed. A time budget stops launching new nodes; the nodes left
are named, never silently dropped. A failing synthesis is an error naming the node.
"""
import hashlib
import json
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from tqdm import tqdm

from flow.errors import FlowError
from flow.ir.ops.cpp import identifier
from flow.ir.ops.rtl import RtlInstance, hex_lines
from flow.sim.rtl_op import RTL_DIR, YOSYS_FAMILY, synthesize

FIGURES = ("lut", "lut_memory", "ff", "bram18", "uram", "dsp")


@dataclass
class SynthResult:
    nodes: dict[str, dict] = field(default_factory=dict)   # node → {figures, "seconds", "cached"}
    skipped: list[str] = field(default_factory=list)       # not run within the time budget

    def totals(self) -> dict:
        return {k: sum(n[k] for n in self.nodes.values()) for k in FIGURES}


def instance_key(inst: RtlInstance, family: str) -> str:
    """What a node's synthesis depends on: its twin's sources, parameters and tables, and the family."""
    h = hashlib.sha256(f"{inst.module}|{family}|{sorted(inst.params.items())}".encode())
    for source in inst.sources:
        h.update((RTL_DIR / source).read_bytes())
    for name, (bits, values) in sorted(inst.tables.items()):
        for part in values if isinstance(values, list) else [values]:
            h.update(f"{name}:{bits}:".encode() + hex_lines(part, bits).encode())
    return h.hexdigest()


def synthesize_cached(inst: RtlInstance, work: Path, family: str, key: str) -> dict:
    """`synthesize`, unless work/figures.json holds the figures of the same key."""
    cache = work / "figures.json"
    if cache.exists():
        stored = json.loads(cache.read_text())
        if stored.get("key") == key:
            return stored["figures"] | {"seconds": stored["seconds"], "cached": True}
    start = time.time()
    figures = synthesize(inst, work, family)
    seconds = round(time.time() - start, 2)
    cache.write_text(json.dumps({"key": key, "figures": figures, "seconds": seconds}))
    return figures | {"seconds": seconds, "cached": False}


def synth_build(build_dir: Path, family: str, jobs: int = 2, budget_s: float | None = None,
                progress: bool = True) -> SynthResult:
    """Synthesise every node of build_dir/final.onnx; results in node order."""
    if family not in YOSYS_FAMILY:
        raise FlowError(f"{build_dir}: target family {family!r} has no Yosys synth_xilinx family "
                        f"(known: {', '.join(YOSYS_FAMILY)})")
    final = build_dir / "final.onnx"
    if not final.exists():
        raise FlowError(f"{final} is missing: {build_dir} is not a finished build; run rubicon build first")
    model = ModelWrapper(str(final))
    todo = [(node.name, getCustomOp(node).rtl(model)) for node in model.graph.node]
    result, start = SynthResult(), time.time()
    bar = tqdm(total=len(todo), desc="yosys", unit="node", disable=not progress)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        running, queue = {}, list(todo)
        while queue or running:
            while queue and len(running) < jobs:
                if budget_s is not None and time.time() - start > budget_s:
                    result.skipped += [name for name, _ in queue]
                    queue = []
                    break
                name, inst = queue.pop(0)
                work = build_dir / "synth" / identifier(name)
                work.mkdir(parents=True, exist_ok=True)
                running[pool.submit(synthesize_cached, inst, work, family, instance_key(inst, family))] = name
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                try:
                    result.nodes[name] = future.result()
                except FlowError as exc:
                    for f in running:
                        f.cancel()
                    raise FlowError(f"synthesis of {name} failed: {exc}") from None
                bar.update(1)
    bar.close()
    order = {name: i for i, (name, _) in enumerate(todo)}
    result.nodes = dict(sorted(result.nodes.items(), key=lambda kv: order[kv[0]]))
    return result
