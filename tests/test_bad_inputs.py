"""The bad-input corpus: every `rubicon` subcommand over malformed inputs made in a temporary folder.

Each case runs the command line through `flow.cli.main` and asserts what a user must see:
- a non-zero exit,
- a clear error on standard error: every line names the broken file (or the graph node), and no
  traceback,
- nothing half-written where the output would go: the output path does not exist afterwards
  (for `basecall`, which keeps the reads it could call, it holds only whole records of reads
  from the file), no temporary file is left beside it, and no input was touched.

Inputs: truncated and header-corrupted copies of real POD5, FAST5 (single and multi-read),
SLOW5/BLOW5 and Taiyaki mapped-signal files; reads of zero and one sample; NaN and infinite
signal and calibration; model YAML with wrong-type fields; ONNX graphs with an unsupported node,
a dangling input, or cut short; target files missing a field or with a wrong type; a model far
over a board's budget; a folding whose parallelism does not divide; checkpoints that are not
plain weights; output paths that cannot be written. The tests run as root, where a chmod'ed
read-only folder is still writable, so an unwritable output is one whose parent is a regular file.
"""
import re
import shutil
import uuid
from pathlib import Path

import h5py
import numpy as np
import onnx
import pytest
import torch
import yaml

from conftest import truncated_copy, write_multi_fast5
from flow.cli import main
from flow.data.read import Read
from flow.paths import data_dir

READS = data_dir() / "reads"
FAST5 = READS / "r9.4.1_fast5"
SOURCES = {  # format → a real small file
    "pod5": READS / "r10.4.1_pod5/can_reads.pod5",
    "fast5": FAST5 / "db6b45aa-5d21-45cf-a435-05fb8f12e839.fast5",
    "blow5": READS / "slow5/minir10dna.blow5",
    "hdf5": READS / "r9.4.1_mapped_signal_sample.hdf5",
}
GOOD = {"name": "bad_inputs", "input": {"act_bits": 8}, "head": {"classes": 5, "weight_bits": 8},
        "layers": [{"type": "conv", "channels": 6, "kernel": 5, "stride": 2, "weight_bits": 8, "act_bits": 4}]}
CHUNK = 96


# ---------------------------------------------------------------- the corpus

def _corrupt_header(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    data[:512] = np.random.default_rng(7).integers(0, 256, 512, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def _slow5_text(rows) -> str:
    """SLOW5 (ASCII, v0.2.0) written from its specification: rows of (id, digitisation, offset, range, signal)."""
    head = ("#slow5_version\t0.2.0\n#num_read_groups\t1\n@run_id\trun1\n"
            "#char*\tuint32_t\tdouble\tdouble\tdouble\tdouble\tuint64_t\tint16_t*\n"
            "#read_id\tread_group\tdigitisation\toffset\trange\tsampling_rate\tlen_raw_signal\traw_signal\n")
    return head + "".join(f"{rid}\t0\t{dig}\t{off}\t{rng}\t4000\t{len(sig)}\t{','.join(map(str, sig))}\n"
                          for rid, dig, off, rng, sig in rows)


def _mapped(path: Path, signal, range_=1400.0, offset=10.0) -> Path:
    """A one-read mapped-signal file whose reference covers the signal."""
    signal = np.asarray(signal)
    n = signal.size
    with h5py.File(path, "w") as f:
        f.attrs["alphabet"] = "ACGT"
        g = f.create_group("Reads/r1")
        g.attrs.update({"digitisation": 8192.0, "offset": offset, "range": range_, "sample_rate": 4000.0})
        g.create_dataset("Dacs", data=signal)
        bases = max(1, n // 10)
        g.create_dataset("Reference", data=np.arange(bases, dtype=np.int16) % 4)
        g.create_dataset("Ref_to_signal", data=np.linspace(0, n, bases + 1).astype(np.int32))
    return path


def _pod5(path: Path, samples: int, offset: float = 10.0, scale: float = 0.17) -> Path:
    from flow.data.simulate import write_pod5

    rng = np.random.default_rng(3)
    read = Read(str(uuid.UUID(int=1)), rng.integers(300, 700, samples).astype(np.int16), offset, scale * 8192, 8192.0, 4000.0)
    write_pod5(path, [read])
    return path


def _onnx_with(path: Path, tiny_qonnx: Path, edit) -> Path:
    model = onnx.load(str(tiny_qonnx))
    edit(model.graph)
    onnx.save(model, str(path))
    return path


def _insert_sigmoid(graph) -> None:
    """A valid ONNX node the lowering has no pattern for, on the network input."""
    x = graph.input[0].name
    for node in graph.node:
        node.input[:] = ["x_sigmoid" if t == x else t for t in node.input]
    graph.node.insert(0, onnx.helper.make_node("Sigmoid", [x], ["x_sigmoid"], name="my_sigmoid"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Every malformed input, by name (paths as strings), plus the good inputs the cases need."""
    from flow.data.fastx import write_fasta
    from flow.data.readers import load_reads
    from flow.export.qonnx_export import export_model
    from flow.ir.lower import lower_qonnx
    from flow.nn.checkpoint import save_model
    from flow.nn.config import parse_model
    from flow.nn.model import build_model

    d = tmp_path_factory.mktemp("corpus")
    c: dict[str, Path] = {}
    # signal files: each format truncated, and with its header overwritten
    c["slow5"] = d / "good.slow5"
    rng = np.random.default_rng(1)
    c["slow5"].write_text(_slow5_text([(f"r{i}", 8192, 10.0, 1400.0, rng.integers(300, 700, 3000)) for i in range(3)]))
    c["multi.fast5"] = write_multi_fast5(d / "multi.fast5", load_reads([FAST5])[0])
    c["hdf5"] = d / "mapped.hdf5"
    shutil.copy(SOURCES["hdf5"], c["hdf5"])
    c["onebad.hdf5"] = d / "one_bad_read.hdf5"  # two reads, the second's alignment runs backwards
    shutil.copy(SOURCES["hdf5"], c["onebad.hdf5"])
    with h5py.File(c["onebad.hdf5"], "a") as f:
        second = sorted(f["Reads"])[1]
        del f[f"Reads/{second}/Ref_to_signal"]
        f[f"Reads/{second}"].create_dataset("Ref_to_signal", data=np.array([5, 3, 1], dtype=np.int32))
    for fmt, src in {**SOURCES, "slow5": c["slow5"], "multi.fast5": c["multi.fast5"]}.items():
        stem = fmt.replace(".", "_")
        suffix = src.suffix
        c[f"truncated.{fmt}"] = truncated_copy(src, d / f"truncated_{stem}{suffix}", 0.05 if fmt == "blow5" else 0.5)
        c[f"corrupt.{fmt}"] = _corrupt_header(src, d / f"corrupt_{stem}{suffix}")
    # reads of zero and one sample; NaN and infinite signal or calibration
    c["empty.slow5"] = d / "empty_read.slow5"
    c["empty.slow5"].write_text(_slow5_text([("r0", 8192, 10.0, 1400.0, [])]))
    c["one.slow5"] = d / "one_sample.slow5"
    c["one.slow5"].write_text(_slow5_text([("r1", 8192, 10.0, 1400.0, [512])]))
    c["one.pod5"] = _pod5(d / "one_sample.pod5", 1)
    c["one.hdf5"] = _mapped(d / "one_sample.hdf5", np.array([512], dtype=np.int16))
    c["nan.hdf5"] = _mapped(d / "nan_signal.hdf5", np.where(np.arange(3000) % 7 == 0, np.nan, 500.0))
    c["inf.hdf5"] = _mapped(d / "inf_range.hdf5", rng.integers(300, 700, 3000).astype(np.int16), range_=np.inf)
    c["nan.slow5"] = d / "nan_offset.slow5"
    c["nan.slow5"].write_text(_slow5_text([("r1", 8192, "nan", 1400.0, rng.integers(300, 700, 3000))]))
    c["inf.pod5"] = _pod5(d / "inf_scale.pod5", 3000, scale=np.inf)
    # text inputs
    c["calls.fastq"] = d / "calls.fastq"
    c["calls.fastq"].write_text("@r1\nACGT\n+\nIIII\n")
    c["truncated.fastq"] = d / "truncated_calls.fastq"
    c["truncated.fastq"].write_text("@r1\nACGTACGT\n+\nII")
    c["genome.fasta"] = d / "genome.fasta"
    write_fasta(c["genome.fasta"], {"g": "ACGT" * 2000})
    c["binary.fasta"] = d / "binary.fasta"
    c["binary.fasta"].write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    c["pore.model"] = truncated_copy(data_dir() / "pore_models/r9.4_180mv_450bps_6mer_template_median68pA.model", d / "cut.model", 0.3)
    # model YAML with wrong-type fields
    for name, broken in {"channels": {"layers": [GOOD["layers"][0] | {"channels": "64"}]},
                         "classes": {"head": {"classes": "five"}}, "input": {"input": 8}, "layers": {"layers": 5},
                         "bits": {"layers": [GOOD["layers"][0] | {"weight_bits": 8.5}]}}.items():
        c[f"yaml.{name}"] = d / f"wrong_{name}.yaml"
        c[f"yaml.{name}"].write_text(yaml.safe_dump(GOOD | broken))
    # checkpoints: plain weights of a small model, a pickled class, a pickle that runs code, cut short
    torch.manual_seed(0)
    tiny = build_model(parse_model(GOOD)).eval()
    c["tiny.pt"] = d / "tiny.pt"
    save_model(tiny, c["tiny.pt"])
    c["class.pt"] = d / "pickled_class.pt"
    torch.save({"spec": GOOD, "state_dict": tiny.state_dict(), "meta": _Unsafe()}, c["class.pt"])
    c["pickle.pt"] = d / "runs_code.pt"
    c["pickle.pt"].write_bytes(b"cos\nsystem\n(S'touch PWNED'\ntR.")
    c["truncated.pt"] = truncated_copy(c["tiny.pt"], d / "truncated.pt")
    # a model far over a board's budget (wide dense layers), as plain weights
    big = parse_model(GOOD | {"name": "too_big", "layers": [
        {"type": "conv", "channels": 256, "kernel": 15, "stride": 2, "weight_bits": 8, "act_bits": 8},
        {"type": "conv", "channels": 256, "kernel": 15, "weight_bits": 8, "act_bits": 8}]})
    c["big.pt"] = d / "too_big.pt"
    save_model(build_model(big).eval(), c["big.pt"])
    # ONNX: the tiny model exported, then broken
    c["tiny.onnx"] = d / "tiny.onnx"
    qonnx = export_model(tiny, c["tiny.onnx"], CHUNK)
    c["unsupported.onnx"] = _onnx_with(d / "unsupported.onnx", c["tiny.onnx"], _insert_sigmoid)
    c["dangling.onnx"] = _onnx_with(d / "dangling.onnx", c["tiny.onnx"],
                                    lambda g: g.node[0].input.__setitem__(0, "no_such_tensor"))
    c["truncated.onnx"] = truncated_copy(c["tiny.onnx"], d / "truncated.onnx")
    # target files: one field missing, one of a wrong type, one trying to escape into Tcl
    target = yaml.safe_load((Path(__file__).parents[1] / "targets/pynq-z2.yaml").read_text())
    for name, data in {"missing": {k: v for k, v in target.items() if k != "part"},
                       "wrongtype": target | {"clock_mhz": "fast"},
                       "tcl": target | {"part": "xc7z020clg400-1} ; exec touch PWNED ; {"}}.items():
        c[f"target.{name}"] = d / f"target_{name}.yaml"
        c[f"target.{name}"].write_text(yaml.safe_dump(data))
    # a build folder whose folding does not divide (PE 4 on 6 channels), and one with a broken report
    folded = lower_qonnx(qonnx)
    mvau = next(n for n in folded.graph.node if n.op_type == "MVAU")
    from qonnx.custom_op.registry import getCustomOp

    getCustomOp(mvau).set_nodeattr("PE", 4)
    c["nodivide"] = d / "nodivide_build"
    (c["nodivide"] / "vectors").mkdir(parents=True)
    folded.save(str(c["nodivide"] / "final.onnx"))
    np.save(c["nodivide"] / "vectors/input_beats.npy", np.zeros((1, CHUNK // 8), dtype=np.uint64))
    c["nodivide.node"] = mvau.name
    c["brokenreport"] = d / "broken_report_build"
    c["brokenreport"].mkdir()
    text = (Path(__file__).parents[1] / "reports/vck190/rubicall_s/report.json").read_text()
    (c["brokenreport"] / "report.json").write_text(text[: len(text) // 2])
    c["goodreport"] = d / "good_report_build"
    c["goodreport"].mkdir()
    (c["goodreport"] / "report.json").write_text(text)
    # a chunk dataset, and a copy cut short
    c["dataset"] = d / "dataset"
    c["dataset"].mkdir()
    np.save(c["dataset"] / "chunks.npy", rng.normal(size=(4, 400)).astype(np.float16))
    np.save(c["dataset"] / "references.npy", rng.integers(1, 5, (4, 10)).astype(np.uint8))
    np.save(c["dataset"] / "reference_lengths.npy", np.full(4, 10, dtype=np.uint16))
    c["cut.dataset"] = d / "cut_dataset"
    shutil.copytree(c["dataset"], c["cut.dataset"])
    truncated_copy(c["dataset"] / "chunks.npy", c["cut.dataset"] / "chunks.npy")
    return {k: str(v) for k, v in c.items()}


class _Unsafe:
    """A class the weights-only loader must refuse to unpickle."""


# ---------------------------------------------------------------- cases
# (id, argv with {corpus keys} and {out} placeholders, corpus key or literal text the error must name)

SIGNAL_FORMATS = ["pod5", "fast5", "multi.fast5", "slow5", "blow5", "hdf5"]
CASES = []
for fmt in SIGNAL_FORMATS:
    for damage in ("truncated", "corrupt"):
        bad = f"{damage}.{fmt}"
        CASES.append((f"basecall-{bad}", ["basecall", "rubicall_s", "{%s}" % bad, "-o", "{out}.fastq"], bad))
        CASES.append((f"chunkify-{bad}", ["chunkify", "{%s}" % bad, "-o", "{out}"], bad))
CASES += [
    # one damaged read among good ones: no dataset or statistics that silently leave it out
    ("chunkify-one-bad-read", ["chunkify", "{onebad.hdf5}", "--chunk-len", "400", "-o", "{out}"], "onebad.hdf5"),
    ("realism-one-bad-read", ["realism", "{onebad.hdf5}"], "onebad.hdf5"),
    ("evaluate-one-bad-read", ["evaluate", "{calls.fastq}", "{onebad.hdf5}", "--tsv", "{out}.tsv"], "onebad.hdf5"),
    ("realism-truncated.hdf5", ["realism", "{truncated.hdf5}"], "truncated.hdf5"),
    ("realism-corrupt.hdf5", ["realism", "{corrupt.hdf5}"], "corrupt.hdf5"),
    ("evaluate-truncated-reference", ["evaluate", "{calls.fastq}", "{truncated.hdf5}", "--tsv", "{out}.tsv"], "truncated.hdf5"),
    ("evaluate-truncated-calls", ["evaluate", "{truncated.fastq}", "{genome.fasta}", "--tsv", "{out}.tsv"], "truncated.fastq"),
    ("evaluate-binary-reference", ["evaluate", "{calls.fastq}", "{binary.fasta}", "--tsv", "{out}.tsv"], "binary.fasta"),
    ("simulate-binary-reference", ["simulate", "{binary.fasta}", "-n", "1", "-o", "{out}"], "binary.fasta"),
    ("simulate-truncated-pore-model", ["simulate", "--random-genome", "5000", "-n", "1", "--pore-model", "{pore.model}",
                                       "-o", "{out}"], "pore.model"),
    # reads of zero or one sample, NaN / infinite signal and calibration
    ("basecall-empty-read", ["basecall", "rubicall_s", "{empty.slow5}", "-o", "{out}.fastq"], "empty.slow5"),
    ("basecall-one-sample-slow5", ["basecall", "rubicall_s", "{one.slow5}", "-o", "{out}.fastq"], "one.slow5"),
    ("basecall-one-sample-pod5", ["basecall", "rubicall_s", "{one.pod5}", "-o", "{out}.fastq"], "one.pod5"),
    ("chunkify-one-sample", ["chunkify", "{one.hdf5}", "-o", "{out}"], "one.hdf5"),
    ("basecall-nan-signal", ["basecall", "rubicall_s", "{nan.hdf5}", "-o", "{out}.fastq"], "nan.hdf5"),
    ("chunkify-nan-signal", ["chunkify", "{nan.hdf5}", "-o", "{out}"], "nan.hdf5"),
    ("realism-nan-signal", ["realism", "{nan.hdf5}"], "nan.hdf5"),
    ("basecall-inf-range", ["basecall", "rubicall_s", "{inf.hdf5}", "-o", "{out}.fastq"], "inf.hdf5"),
    ("chunkify-inf-range", ["chunkify", "{inf.hdf5}", "-o", "{out}"], "inf.hdf5"),
    ("basecall-nan-offset", ["basecall", "rubicall_s", "{nan.slow5}", "-o", "{out}.fastq"], "nan.slow5"),
    ("basecall-inf-scale-pod5", ["basecall", "rubicall_s", "{inf.pod5}", "-o", "{out}.fastq"], "inf.pod5"),
    # model YAML with a wrong-type field
    *[(f"train-yaml-{k}", ["train", "{yaml.%s}" % k, "{dataset}", "-o", "{out}"], f"yaml.{k}")
      for k in ("channels", "classes", "input", "layers", "bits")],
    ("export-yaml-classes", ["export", "{yaml.classes}", "-o", "{out}.onnx"], "yaml.classes"),
    ("build-yaml-channels", ["build", "--model", "{yaml.channels}", "-o", "{out}"], "yaml.channels"),
    ("train-truncated-dataset", ["train", "{yaml_good}", "{cut.dataset}", "-o", "{out}"], "cut.dataset"),
    # ONNX: an unsupported node, a dangling input, a file cut short
    ("lower-unsupported-node", ["lower", "{unsupported.onnx}", "-o", "{out}.onnx"], "my_sigmoid"),
    ("lower-dangling-input", ["lower", "{dangling.onnx}", "-o", "{out}.onnx"], "dangling.onnx"),
    ("lower-truncated", ["lower", "{truncated.onnx}", "-o", "{out}.onnx"], "truncated.onnx"),
    # targets
    ("build-target-missing-field", ["build", "--model", "{tiny.pt}", "--target", "{target.missing}", "-o", "{out}"], "target.missing"),
    ("build-target-wrong-type", ["build", "--model", "{tiny.pt}", "--target", "{target.wrongtype}", "-o", "{out}"], "target.wrongtype"),
    ("build-target-tcl-part", ["build", "--model", "{tiny.pt}", "--target", "{target.tcl}", "-o", "{out}"], "target.tcl"),
    ("build-target-outside-targets", ["build", "--model", "{tiny.pt}", "--target", "../README", "-o", "{out}"], "../README"),
    # a model over the board's budget; a folding that does not divide
    ("build-over-budget", ["build", "--model", "{big.pt}", "--target", "pynq-z2", "--chunk-len", str(CHUNK), "-o", "{out}"],
     "does not fit pynq-z2"),
    ("csim-folding-does-not-divide", ["csim", "{nodivide}"], "nodivide.node"),
    ("cyclesim-folding-does-not-divide", ["cyclesim", "{nodivide}"], "nodivide.node"),
    ("report-truncated-json", ["report", "{brokenreport}", "--out", "{out}"], "brokenreport"),
    # checkpoints that are not plain weights
    *[(f"{cmd}-{ck}", argv, ck) for ck in ("class.pt", "pickle.pt", "truncated.pt") for cmd, argv in [
        ("export", ["export", "{%s}" % ck, "-o", "{out}.onnx"]),
        ("basecall", ["basecall", "{%s}" % ck, "{slow5}", "-o", "{out}.fastq"]),
        ("train-init", ["train", "{yaml_good}", "{dataset}", "--init", "{%s}" % ck, "-o", "{out}"]),
        ("build", ["build", "--model", "{%s}" % ck, "-o", "{out}"])]],
    ("chunkify-teacher-class.pt", ["chunkify", "{hdf5}", "--teacher", "{class.pt}", "-o", "{out}"], "class.pt"),
    # output paths that cannot be written (the parent is a regular file)
    ("simulate-unwritable", ["simulate", "--random-genome", "5000", "-n", "1", "-o", "{blocked}"], "blocked"),
    ("chunkify-unwritable", ["chunkify", "{hdf5}", "-o", "{blocked}"], "blocked"),
    ("basecall-unwritable", ["basecall", "rubicall_s", "{slow5}", "-o", "{blocked}.fastq"], "blocked"),
    ("evaluate-unwritable", ["evaluate", "{calls.fastq}", "{genome.fasta}", "--tsv", "{blocked}.tsv"], "blocked"),
    ("export-unwritable", ["export", "{tiny.pt}", "-o", "{blocked}.onnx"], "blocked"),
    ("lower-unwritable", ["lower", "{tiny.onnx}", "-o", "{blocked}.onnx"], "blocked"),
    ("train-unwritable", ["train", "{yaml_good}", "{dataset}", "-o", "{blocked}"], "blocked"),
    ("build-unwritable", ["build", "--model", "{tiny.pt}", "-o", "{blocked}"], "blocked"),
    ("report-unwritable", ["report", "{goodreport}", "--out", "{blocked}"], "blocked"),
]


def _quiet_progress_bars(monkeypatch):
    """Progress bars off: what is left on standard error is what the command reports."""
    import tqdm

    init = tqdm.std.tqdm.__init__
    monkeypatch.setattr(tqdm.std.tqdm, "__init__", lambda self, *a, **k: init(self, *a, **(k | {"disable": True})))


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.is_dir(), p.stat().st_size if p.is_file() else 0, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("argv,names", [pytest.param(a, n, id=i) for i, a, n in CASES])
def test_bad_input_fails_cleanly(corpus, tmp_path, capfd, monkeypatch, argv, names):
    _quiet_progress_bars(monkeypatch)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("a regular file, so nothing can be created under it\n")
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(GOOD))
    places = corpus | {"out": str(tmp_path / "out"), "blocked": str(tmp_path / "file/out"), "yaml_good": str(tmp_path / "good.yaml")}
    args = [re.sub(r"^\{([^}]+)\}", lambda m: places[m[1]], a) for a in argv]
    inputs_before, outputs_before = _snapshot(Path(corpus["tiny.pt"]).parent), _snapshot(tmp_path)
    capfd.readouterr()
    try:
        code = main(args)
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capfd.readouterr()
    assert code not in (0, None), f"exit {code}; stdout: {out}"
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    needle = corpus[names] if names == "nodivide.node" else Path(places[names]).name if names in places else names
    assert errors and "Traceback" not in err, err
    assert all(needle in line for line in errors), f"every error line names {needle!r}:\n{err}"
    if code == 2:  # a FlowError: exactly one line
        assert len(err.strip().splitlines()) == 1, err
    assert _snapshot(Path(corpus["tiny.pt"]).parent) == inputs_before, "an input was modified"
    after = _snapshot(tmp_path)
    if argv[0] == "build":  # a build keeps the stages it finished (to resume), but nothing of a finished build
        assert not {"report.json", "report.md", "hls", "driver"} & {p.split("/")[-1] for p in after}, sorted(after)
        after = {k: v for k, v in after.items() if not k.startswith("out")}
    if argv[0] == "basecall" and (tmp_path / "out.fastq").exists():
        from flow.data.fastx import read_fastq

        calls = read_fastq(tmp_path / "out.fastq")  # whole records only, of reads the file holds
        assert all(len(s) == len(q) for s, q in calls.values())
        after.pop("out.fastq")
    assert after == outputs_before, f"written where the output would go: {sorted(set(after) - set(outputs_before))}"


# ---------------------------------------------------------------- bench scripts outside the CLI

BENCH = Path(__file__).resolve().parents[1] / "bench"
BENCH_CASES = [  # script arguments, how the one line a user sees begins; each fails before writing anything
    (["ship_model.py", "{tmp}/absent.pt", "bad name", "--header", "h"], "ship_model.py: error: 'bad name'"),
    (["seed_spread.py", "{tmp}/absent.yaml", "--runs", "{tmp}/runs", "--out", "{tmp}/out.json"],
     "seed_spread.py: error: {tmp}/absent.yaml: no such model YAML"),
    (["seed_spread.py", "reference:promethion", "--runs", "{tmp}/runs", "--out", "{tmp}/out.json"],
     "seed_spread.py: error: reference:promethion: the experiment's targets are minion, minion4x"),
]


@pytest.mark.parametrize("argv, line", BENCH_CASES, ids=[f"{a[0]}:{a[1]}" for a, _ in BENCH_CASES])
def test_bench_script_bad_input_is_one_line_and_status_2(tmp_path, argv, line):
    import subprocess
    import sys

    argv = [a.format(tmp=tmp_path) for a in argv]
    done = subprocess.run([sys.executable, BENCH / argv[0], *argv[1:]], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line.format(tmp=tmp_path)), lines
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "runs").exists()
