"""C-simulation: run the generated top on chunks and compare every output with the golden model."""
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from flow.codegen.beats import pack_input, unpack_output, unpack_trailer
from flow.codegen.compile import compile_program
from flow.codegen.network import Network
from flow.errors import FlowError
from flow.ir.golden import run_dataflow_outputs


@dataclass
class Comparison:
    elements: int
    mismatches: int
    first_mismatch: tuple | None = None

    @property
    def bit_exact(self) -> bool:
        return self.elements > 0 and self.mismatches == 0

    def as_dict(self) -> dict:
        """The report.json fields of a comparison."""
        return {"bit_exact": self.bit_exact, "elements_compared": self.elements, "mismatches": self.mismatches}


def compare(golden: np.ndarray, produced: np.ndarray) -> Comparison:
    if golden.shape != produced.shape:
        raise FlowError(f"output shape {produced.shape} differs from the golden model's {golden.shape}")
    diff = np.argwhere(golden != produced)
    return Comparison(int(golden.size), int(len(diff)), tuple(int(i) for i in diff[0]) if len(diff) else None)


def write_vectors(model: ModelWrapper, net: Network, ints: np.ndarray, out_dir: Path) -> np.ndarray:
    """input_ints.npy, input_beats.npy, golden.npy (from execute_onnx on the same graph) and,
    with dynamic pooling, golden_trailer.npy [N, 2] (valid frames, overflow)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = run_dataflow_outputs(model, ints)
    np.save(out_dir / "input_ints.npy", ints)
    np.save(out_dir / "input_beats.npy", pack_input(ints[..., 0], net.in_elem_bits, net.in_beat_bits))
    np.save(out_dir / "golden.npy", outputs["global_out"])
    if net.side_stream is not None:
        np.save(out_dir / "golden_trailer.npy", np.stack([outputs["frame_count"], outputs["frame_overflow"]], axis=1))
    return outputs["global_out"]


def compare_beats(net: Network, vectors: Path, beats_file: Path, tag: str) -> tuple[np.ndarray, Comparison]:
    """Unpack output beats, keep `<tag>_output.npy`, compare logits (and trailer) with the golden files."""
    beats = np.load(beats_file)
    produced = unpack_output(beats, net.out_frames, net.classes)
    np.save(vectors / f"{tag}_output.npy", produced)
    result = compare(np.load(vectors / "golden.npy"), produced)
    if net.side_stream is not None:
        trailer = compare(np.load(vectors / "golden_trailer.npy"), np.stack(unpack_trailer(beats), axis=1))
        first = result.first_mismatch or (("trailer",) + trailer.first_mismatch if trailer.first_mismatch else None)
        result = Comparison(result.elements + trailer.elements, result.mismatches + trailer.mismatches, first)
    return produced, result


def run_csim(hls_dir: Path, net: Network, vectors: Path, synthesis_types: bool = False) -> tuple[np.ndarray, Comparison]:
    """Compile tb_csim.cpp, run it on the vectors, compare with golden.npy; keeps csim_output.npy.
    `synthesis_types`: compile the branch Vitis HLS compiles (exact-width ap_int tables and counters)."""
    if synthesis_types:
        exe = compile_program(hls_dir / "tb_csim.cpp", hls_dir / "csim_synth", defines=("RUBICON_EXACT_TYPES",))
    else:
        exe = compile_program(hls_dir / "tb_csim.cpp", hls_dir / "csim")
    beats_out = vectors / "csim_output_beats.npy"
    run = subprocess.run([str(exe), str(vectors / "input_beats.npy"), str(beats_out)], capture_output=True, text=True)
    if run.returncode != 0:
        raise FlowError(f"C-simulation failed ({exe}): {run.stderr.strip()[-2000:]}")
    return compare_beats(net, vectors, beats_out, "csim")
