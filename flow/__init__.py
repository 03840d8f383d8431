"""RUBICON co-design flow: nanopore basecallers from architecture search to FPGA dataflow."""

__version__ = "0.1.0"
