"""The pretrained teacher, built by the project's model code, reproduces its published accuracy."""
import numpy as np
import pytest

from flow.basecall.caller import call_read
from flow.data.fastx import read_fasta
from flow.data.readers import load_reads
from flow.evaluate.accuracy import accuracy
from flow.nn.checkpoint import load_model
from flow.nn.model import count_parameters

# From shared/data/teachers/README.md: median accuracy, greedy decoding, Bonito definition.
PUBLISHED = {"mapped": 0.934, "fast5": 0.873}
FAST5_WITH_REFS = ("db6b45aa-5d21-45cf-a435-05fb8f12e839", "0f776a08-1101-41d4-8097-89136494a46e", "de1508c4-755b-489e-9ffb-51af35c9a7e6")


@pytest.fixture(scope="module")
def teacher():
    model, meta = load_model("teacher_sbonito")
    return model


def test_teacher_is_the_published_network(teacher):
    assert count_parameters(teacher) == 249_805  # weights and BatchNorm affine; the state dict holds 255,038 numbers with BatchNorm statistics
    assert teacher.stride == 3


def test_teacher_accuracy_on_mapped_signal_sample(teacher, shared):
    reads, _ = load_reads([shared / "reads/r9.4.1_mapped_signal_sample.hdf5"])
    accs = [accuracy(call_read(teacher, r).sequence, r.reference) for r in reads]
    assert abs(np.median(accs) - PUBLISHED["mapped"]) <= 0.005


def test_teacher_accuracy_on_fast5_reads(teacher, shared):
    refs = read_fasta(shared / "reads/r9.4.1_fast5/per_read_references.fasta")
    reads, _ = load_reads([shared / f"reads/r9.4.1_fast5/{rid}.fast5" for rid in FAST5_WITH_REFS])
    accs = [accuracy(call_read(teacher, r).sequence, refs[r.read_id]) for r in reads]
    assert abs(np.median(accs) - PUBLISHED["fast5"]) <= 0.005
