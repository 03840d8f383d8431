"""The exact basecalling path: the vectorised executor (flow.ir.fast) equals the golden model
(`run_dataflow_outputs`, qonnx node by node) element for element, and `rubicon basecall --exact`
calls reads from those integers."""
import logging

import numpy as np
import pytest
from conftest import TINY_CHUNK

from flow.basecall.caller import call_read
from flow.cli import main
from flow.data.chunks import unlabelled_chunks
from flow.data.fastx import read_fastq
from flow.data.read import Read
from flow.data.readers import iter_reads
from flow.ir.basecall import ExactScorer, dataflow_graph
from flow.ir.fast import FastGraph, Windows
from flow.ir.golden import quantize_input, run_dataflow, run_dataflow_outputs
from flow.paths import FAST5_DIR, MAPPED_SIGNAL_SAMPLE, data_file

logging.getLogger("torch.onnx").setLevel(logging.ERROR)
CHUNK = 600  # short chunks keep the golden model quick; a multiple of both shipped models' strides (3, 2)
SHORT_READ = "de1508c4-755b-489e-9ffb-51af35c9a7e6"  # the shortest labelled FAST5 read in shared data


@pytest.fixture(scope="module")
def shipped():
    """The board models' integer graphs at CHUNK samples, exported and lowered as --exact does."""
    return {name: dataflow_graph(name, CHUNK)[0] for name in ("rubicall_pynq", "heron_dp")}


@pytest.fixture(scope="module")
def tiny_final(tiny):
    """The tiny graph folded with DWCs and FIFOs, as a build's final.onnx (PE/SIMD > 1, plumbing ops)."""
    from flow.hw.calibration import Calibration
    from flow.hw.fold import insert_dwcs, insert_fifos, set_folding

    return insert_fifos(insert_dwcs(set_folding(tiny, "pynq-z2", cycles_target=3000, calibration=Calibration())))


def real_chunks(chunk_len: int, count: int) -> np.ndarray:
    """Normalised chunks of the real R9.4.1 reads, one from each read in turn."""
    per_read = [unlabelled_chunks(r, chunk_len) for r in iter_reads(data_file(MAPPED_SIGNAL_SAMPLE)) if isinstance(r, Read)]
    picked = [c for rank in range(max(map(len, per_read))) for cs in per_read if rank < len(cs) for c in [cs[rank]]]
    return np.stack(picked[:count]).astype(np.float64)


def edge_inputs(model, chunk_len: int, rng) -> np.ndarray:
    """Integer input streams at the edges of the input type: saturated high and low, zeros,
    alternating extremes, and uniform random over the whole range."""
    lo, hi = (int(v) for v in model.get_metadata_prop("rubicon_input_range").split(","))
    rows = [np.full(chunk_len, hi), np.full(chunk_len, lo), np.zeros(chunk_len),
            np.where(np.arange(chunk_len) % 2, hi, lo), rng.integers(lo, hi + 1, chunk_len)]
    return np.stack(rows).astype(np.int64)[..., None]


def assert_equal_outputs(model, ints):
    golden, fast = run_dataflow_outputs(model, ints), FastGraph(model)(ints)
    assert set(fast) == set(golden)
    for name in golden:
        assert fast[name].dtype == np.int64 and fast[name].shape == golden[name].shape, name
        mismatch = np.argwhere(fast[name] != golden[name])
        assert mismatch.size == 0, f"{name}: {len(mismatch)} elements differ, first at {mismatch[0].tolist()}"
    return golden


@pytest.mark.parametrize("name", ["rubicall_pynq", "heron_dp"])
def test_shipped_models_on_real_chunks(shipped, name):
    model = shipped[name]
    golden = assert_equal_outputs(model, quantize_input(model, real_chunks(CHUNK, 6)))
    assert np.abs(golden["global_out"]).max() > 0
    if name == "heron_dp":  # the pooling really resamples: frame counts vary from chunk to chunk
        assert len(set(golden["frame_count"].tolist())) > 1


@pytest.mark.parametrize("name", ["rubicall_pynq", "heron_dp"])
def test_shipped_models_on_edge_inputs(shipped, name):
    assert_equal_outputs(shipped[name], edge_inputs(shipped[name], CHUNK, np.random.default_rng(1)))


@pytest.mark.parametrize("graph", ["tiny", "tiny_dp", "tiny_final"])
def test_every_op_kind(graph, request):
    """Residual fork/join and stand-alone thresholds (tiny), a pool that overflows Lmax (tiny_dp),
    folded widths with data-width converters and FIFOs (tiny_final)."""
    model = request.getfixturevalue(graph)
    ints = np.concatenate([quantize_input(model, np.random.default_rng(2).normal(size=(3, TINY_CHUNK)).clip(-4, 4)),
                           edge_inputs(model, TINY_CHUNK, np.random.default_rng(3))])
    golden = assert_equal_outputs(model, ints)
    if graph == "tiny_dp":
        assert golden["frame_overflow"].any() and not golden["frame_overflow"].all()


@pytest.mark.parametrize("bound, centre, spread", [
    (3000, 0, 2000),                    # a narrow span: the look-up table
    ((1 << 24) - 1, -(1 << 24) + 50, 40),  # float32 at its edge, far from zero: the table's offsets
    ((1 << 24) - 1, 0, 1 << 23),        # a span too wide for a table: the sorted search
    (1 << 40, 5 << 38, 1 << 36),        # float64, thresholds beyond the values (clipped)
])
def test_thresholds_count_like_a_plain_comparison(bound, centre, spread):
    import torch

    from flow.ir.fast import _Thresholds, _exact_dtype

    rng = np.random.default_rng(bound % 1000 + spread % 997)
    thr = np.sort(rng.integers(centre - spread, centre + spread, size=(6, 15)), axis=1)
    values = np.concatenate([rng.integers(-bound, bound + 1, 400), thr.ravel(), thr.ravel() - 1, [-bound, bound]])
    values = np.clip(values, -bound, bound)
    acc = np.broadcast_to(values, (2, 6, values.size)).copy()  # [N, C, T]
    expected = (thr[None, :, None, :] <= acc[..., None]).sum(axis=-1) - 3  # bias −3
    dtype = _exact_dtype(bound, "test")
    got = _Thresholds(thr, -3, bound, dtype, "test")(torch.from_numpy(acc).to(dtype))
    assert np.array_equal(got.to(torch.int64).numpy(), expected)


def test_windows_materialised_and_lazy_agree(tiny_final):
    """A sliding window's materialised stream is the golden op's, element for element and in its
    order, and its consumer gives the same output from that stream as from the lazy window."""
    import torch
    from qonnx.custom_op.registry import getCustomOp

    fast = FastGraph(tiny_final)
    ints = edge_inputs(tiny_final, TINY_CHUNK, np.random.default_rng(4))
    env = {fast.input: torch.from_numpy(ints[:, :, 0].astype(np.float32))[:, None, :]}
    windows, consumers = 0, 0
    for node, streams, run in fast.steps:
        args = [env[s] for s in streams]
        outs = run(*args)
        if node.op_type == "ConvolutionInputGenerator1D":
            context = {node.input[0]: args[0].permute(0, 2, 1).numpy().astype(np.int64)}
            getCustomOp(node).execute_node(context, None)
            assert np.array_equal(outs[0].materialise().permute(0, 2, 1).numpy(), context[node.output[0]]), node.name
            windows += 1
        elif node.op_type in ("MVAU", "VVAU") and isinstance(args[0], Windows):
            assert torch.equal(run(args[0].materialise(), *args[1:])[0], outs[0]), node.name
            consumers += 1
        env.update(zip(node.output, outs))
    assert windows == consumers >= 3


def test_exact_basecall_of_a_build_directory(shipped, tmp_path, capsys):
    """`rubicon basecall --exact BUILD_DIR` writes what the golden model's integers decode to."""
    model = shipped["rubicall_pynq"]
    (tmp_path / "build").mkdir()
    model.save(str(tmp_path / "build" / "dataflow.onnx"))
    read_file = data_file(FAST5_DIR) / f"{SHORT_READ}.fast5"
    assert main(["basecall", "--exact", tmp_path / "build", read_file]) == 0
    out = capsys.readouterr()
    (tmp_path / "calls.fastq").write_text(out.out)
    calls = read_fastq(tmp_path / "calls.fastq")
    assert "integer dataflow graph" in out.err and "1 reads" in out.err

    class GoldenScorer:  # the reference: qonnx node-by-node execution of the same graph
        stride = CHUNK // model.get_tensor_shape("global_out")[1]

        def __call__(self, chunks):
            return run_dataflow(model, chunks).log_probs, None

    read = next(r for r in iter_reads(read_file) if isinstance(r, Read))
    expected = call_read(GoldenScorer(), read, CHUNK, CHUNK // 7 // 3 * 3)
    assert calls == {read.read_id: (expected.sequence, expected.quality)}
    assert len(expected.sequence) > 500


def test_exact_scorer_refuses_other_chunk_lengths(shipped, tmp_path):
    scorer = ExactScorer(shipped["heron_dp"])
    assert (scorer.chunk_len, scorer.stride) == (CHUNK, 2)
    (tmp_path / "b").mkdir()
    shipped["heron_dp"].save(str(tmp_path / "b" / "final.onnx"))
    from flow.errors import FlowError

    with pytest.raises(FlowError, match="chunks of 600 samples"):
        dataflow_graph(tmp_path / "b", 4200)
    with pytest.raises(FlowError, match="none of final.onnx"):
        dataflow_graph(tmp_path, None)


def test_exact_cli_errors_are_one_line(shipped, tmp_path, capsys):
    read_file = data_file(FAST5_DIR) / f"{SHORT_READ}.fast5"
    (tmp_path / "b").mkdir()
    shipped["rubicall_pynq"].save(str(tmp_path / "b" / "dataflow.onnx"))
    (tmp_path / "empty").mkdir()
    for args, needle in [(["--exact", tmp_path / "empty"], "not a build directory"),
                         (["--exact", tmp_path / "b", "--chunk-len", "4200"], "chunks of 600 samples"),
                         ([tmp_path / "b"], "with --exact")]:
        assert main(["basecall", *args, read_file, "-o", tmp_path / "x.fastq"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "x.fastq").exists()
