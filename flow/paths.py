"""Where shared data lives: `$RUBICON_DATA`, else `../shared/data` beside the repo root.

Data files are referenced, never copied into the repo (DESIGN §9).
"""
import os
from pathlib import Path

from flow.errors import FlowError

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"


def data_dir() -> Path:
    env = os.environ.get("RUBICON_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def data_file(relative: str) -> Path:
    """Path of a shared data file; a clear error if it is missing."""
    path = data_dir() / relative
    if not path.exists():
        raise FlowError(
            f"data file {relative} not found: looked for {path} "
            "(set RUBICON_DATA to the folder that holds shared data)"
        )
    return path


PORE_MODEL = "pore_models/r9.4_180mv_450bps_6mer_template_median68pA.model"
LAMBDA_REFERENCE = "references/lambda_phage.fa"
MAPPED_SIGNAL_SAMPLE = "reads/r9.4.1_mapped_signal_sample.hdf5"
FAST5_DIR = "reads/r9.4.1_fast5"
FAST5_REFERENCES = "reads/r9.4.1_fast5/per_read_references.fasta"
