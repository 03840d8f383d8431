"""FASTA/FASTQ reading and writing (plain text, optionally gzipped FASTA)."""
import gzip
from pathlib import Path

from flow.errors import FlowError


def _open_text(path: Path):
    return gzip.open(path, "rt") if str(path).endswith(".gz") else open(path)


def _text_lines(path: Path, what: str):
    """The lines of a text file, streamed; a binary or damaged file is one FlowError naming it."""
    try:
        with _open_text(path) as handle:
            yield from handle
    except (UnicodeDecodeError, EOFError, OSError) as exc:  # gzip.BadGzipFile is an OSError
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc) or type(exc).__name__
        raise FlowError(f"{path}: not a readable {what} file ({reason})") from None


def read_fasta(path) -> dict[str, str]:
    """All records of a FASTA file as {name: sequence} (name = first word of the header)."""
    path = Path(path)
    if not path.exists():
        raise FlowError(f"reference {path} does not exist")
    records: dict[str, list[str]] = {}
    name = None
    for line in _text_lines(path, "FASTA"):
        line = line.strip()
        if not line:
            continue
        if line.startswith(">"):
            name = line[1:].split()[0]
            records[name] = []
        elif name is None:
            raise FlowError(f"{path} is not FASTA: sequence before the first '>' header")
        else:
            records[name].append(line.upper())
    if not records:
        raise FlowError(f"{path} holds no FASTA records")
    return {k: "".join(v) for k, v in records.items()}


def write_fasta(path, records: dict[str, str], width: int = 80) -> None:
    with open(path, "w") as handle:
        for name, seq in records.items():
            handle.write(f">{name}\n")
            for i in range(0, len(seq), width):
                handle.write(seq[i : i + width] + "\n")


def read_fastq(path) -> dict[str, tuple[str, str]]:
    """{read_id: (sequence, quality string)}."""
    path = Path(path)
    if not path.exists():
        raise FlowError(f"calls file {path} does not exist")
    out = {}
    lines = [line.rstrip("\n") for line in _text_lines(path, "FASTQ")]
    if len(lines) % 4:
        raise FlowError(f"{path} is not FASTQ: {len(lines)} lines is not a multiple of 4")
    for i in range(0, len(lines), 4):
        header, seq, plus, qual = lines[i : i + 4]
        if not header.startswith("@") or not plus.startswith("+") or len(seq) != len(qual):
            raise FlowError(f"{path} line {i + 1}: malformed FASTQ record")
        out[header[1:].split()[0]] = (seq, qual)
    return out


def format_fastq(read_id: str, seq: str, qual: str, comment: str = "") -> str:
    header = f"@{read_id}" + (f" {comment}" if comment else "")
    return f"{header}\n{seq}\n+\n{qual}\n"
