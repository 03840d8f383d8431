"""Test vectors for a build: chunks of real reads plus edge cases, quantized as the driver does."""
import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from flow.data.chunks import unlabelled_chunks
from flow.data.readers import iter_reads
from flow.data.read import Read
from flow.errors import FlowError
from flow.ir.golden import quantize_input
from flow.paths import MAPPED_SIGNAL_SAMPLE, data_file

EDGE_CASES = 3  # all-maximum (saturated), all-minimum, all-zero


def build_chunks(model: ModelWrapper, count: int, chunk_len: int) -> np.ndarray:
    """Integer input streams [count, chunk_len, 1]: the first chunks of the real R9.4.1 reads in
    shared data, then the saturating and zero chunks (count ≥ 4)."""
    per_read = []
    for read in iter_reads(data_file(MAPPED_SIGNAL_SAMPLE)):
        if isinstance(read, Read):
            per_read.append(unlabelled_chunks(read, chunk_len))
    real = [c for rank in range(max(map(len, per_read), default=0)) for chunks in per_read if rank < len(chunks)
            for c in [chunks[rank]]][: count - EDGE_CASES]  # one chunk per read first, then second ones, ...
    if len(real) < count - EDGE_CASES:
        raise FlowError(f"{data_file(MAPPED_SIGNAL_SAMPLE)} gives only {len(real)} chunks of {chunk_len} samples; "
                        f"use --chunks {len(real) + EDGE_CASES} or less")
    chunks = np.stack(real[: count - EDGE_CASES] + [np.full(chunk_len, 100.0), np.full(chunk_len, -100.0), np.zeros(chunk_len)])
    return quantize_input(model, chunks.astype(np.float64))
