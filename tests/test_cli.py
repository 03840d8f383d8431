"""The `rubicon` command as a user runs it: simulate → basecall → evaluate, and clear errors."""
import subprocess
import sys

import numpy as np
import pytest

from flow.cli import main
from flow.data.fastx import read_fastq


def rubicon(*args):
    return subprocess.run([sys.executable, "-m", "flow.cli", *map(str, args)], capture_output=True, text=True)


def test_help_lists_the_stages():
    out = rubicon("--help").stdout
    for command in ("simulate", "chunkify", "train", "basecall", "evaluate", "realism"):
        assert command in out


def test_a_stage_imports_only_its_own_tools():
    """`rubicon train` on a machine without the ONNX tooling (a lent GPU) must not import the exporter."""
    code = ("import sys; from flow.cli import main\n"
            "try:\n    main(['train', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('qonnx' in sys.modules, 'flow.cli.export' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    assert out[-2:] == ["False", "False"]


def test_simulate_without_pod5(shared, tmp_path):
    out = tmp_path / "sim"
    assert main(["simulate", "--random-genome", "20000", "-n", "2", "--no-pod5", "-o", out, "--seed", "3"]) == 0
    assert {p.name for p in out.iterdir()} == {"truth.fasta", "truth.hdf5", "reads.tsv", "simulation.yaml"}
    assert main(["chunkify", out / "truth.hdf5", "-o", tmp_path / "chunks", "--chunk-len", "2000"]) == 0


@pytest.fixture(scope="module")
def lambda_sim(tmp_path_factory, shared):
    out = tmp_path_factory.mktemp("sim") / "lambda"
    assert main(["simulate", shared / "references/lambda_phage.fa", "-n", "3", "--mean-length", "1500",
                 "--min-length", "800", "-o", str(out), "--seed", "4"]) == 0
    return out


def test_simulate_writes_the_truth(lambda_sim):
    names = {p.name for p in lambda_sim.iterdir()}
    assert names == {"reads.pod5", "truth.fasta", "truth.hdf5", "reads.tsv", "simulation.yaml"}
    rows = (lambda_sim / "reads.tsv").read_text().splitlines()
    assert len(rows) == 4 and "speed_factor" in rows[0]


def test_shipped_model_basecalls_and_evaluates(lambda_sim, tmp_path, shared):
    calls = tmp_path / "calls.fastq"
    assert main(["basecall", "rubicall_s", lambda_sim / "reads.pod5", "-o", calls]) == 0
    fastq = read_fastq(calls)
    assert len(fastq) == 3 and all(len(s) > 100 and len(s) == len(q) for s, q in fastq.values())
    result = rubicon("evaluate", calls, lambda_sim / "truth.fasta")
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "calls.tsv").read_text().splitlines()[1:]
    accs = np.array([float(r.split("\t")[3]) for r in rows])
    assert len(accs) == 3 and np.median(accs) > 0.6  # the shipped model reads simulated lambda
    # against the genome instead of per-read truths: same reads, aligned on both strands
    genome = rubicon("evaluate", calls, shared / "references/lambda_phage.fa", "--tsv", tmp_path / "g.tsv")
    assert genome.returncode == 0 and "genome" in (tmp_path / "g.tsv").read_text()


def test_beam_search_basecall(lambda_sim, tmp_path):
    calls = tmp_path / "beam.fastq"
    assert main(["basecall", "rubicall_s", lambda_sim / "reads.pod5", "-o", calls, "--beam", "4"]) == 0
    assert len(read_fastq(calls)) == 3


def test_basecall_without_out_writes_fastq_to_stdout(lambda_sim, tmp_path):
    """`rubicon basecall MODEL DIR > calls.fastq`, as Bonito and Dorado: the FASTQ alone on standard
    output, progress and the summary line on standard error; -o writes the same calls to a file."""
    result = rubicon("basecall", "rubicall_s", lambda_sim / "reads.pod5")
    assert result.returncode == 0, result.stderr
    assert main(["basecall", "rubicall_s", lambda_sim / "reads.pod5", "-o", tmp_path / "calls.fastq"]) == 0
    assert result.stdout == (tmp_path / "calls.fastq").read_text()
    assert len(read_fastq(tmp_path / "calls.fastq")) == 3
    assert "3 reads" in result.stderr and "standard output" in result.stderr and "basecall reads.pod5" in result.stderr


def test_mapped_signal_is_its_own_reference(tmp_path, shared):
    mapped = shared / "reads/r9.4.1_mapped_signal_sample.hdf5"
    calls = tmp_path / "real.fastq"
    assert main(["basecall", "rubicall_s", mapped, "-o", calls]) == 0
    result = rubicon("evaluate", calls, mapped)
    assert result.returncode == 0 and "median accuracy" in result.stdout
    assert "per-read" in (tmp_path / "real.tsv").read_text()


def test_bad_inputs_fail_with_one_clear_line(tmp_path, shared):
    (tmp_path / "junk.fast5").write_bytes(b"not an hdf5 file at all")
    good = shared / "reads/r9.4.1_fast5/db6b45aa-5d21-45cf-a435-05fb8f12e839.fast5"
    out = tmp_path / "calls.fastq"
    result = rubicon("basecall", "rubicall_s", tmp_path / "junk.fast5", good, "-o", out)
    assert result.returncode == 1
    assert "junk.fast5" in result.stderr and "1 failed" in result.stderr and result.stdout == ""
    assert len(read_fastq(out)) == 1  # the good read is still called
    # only bad reads: no FASTQ at all (an empty one would look like a run that found nothing)
    nothing = tmp_path / "nothing.fastq"
    result = rubicon("basecall", "rubicall_s", tmp_path / "junk.fast5", "-o", nothing)
    assert result.returncode == 1 and "junk.fast5" in result.stderr and "no read called" in result.stderr
    assert not nothing.exists() and not nothing.with_name("nothing.fastq.partial").exists()

    for args, needle in [
        (("basecall", "no_such_model", good, "-o", tmp_path / "x.fastq"), "no_such_model"),
        (("basecall", "rubicall_s", tmp_path / "missing.pod5", "-o", tmp_path / "x.fastq"), "missing.pod5"),
        (("evaluate", tmp_path / "none.fastq", shared / "references/lambda_phage.fa"), "none.fastq"),
        (("train", "rubicall_s", tmp_path, "-o", tmp_path / "t"), "chunks.npy"),
    ]:
        result = rubicon(*args)
        assert result.returncode == 2, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "x.fastq").exists()


def test_simulate_refuses_to_overwrite(lambda_sim):
    result = rubicon("simulate", "--random-genome", "10000", "-n", "1", "-o", lambda_sim)
    assert result.returncode == 2 and "not empty" in result.stderr
