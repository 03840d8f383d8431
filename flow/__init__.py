"""RUBICON co-design flow: nanopore basecallers from architecture search to FPGA dataflow."""
import warnings

__version__ = "0.1.0"

# Brevitas announces an optional CUDA kernel package on import; it is irrelevant here and
# would turn every one-line CLI error into three lines.
warnings.filterwarnings("ignore", message=".*fast_hadamard_transform.*")
