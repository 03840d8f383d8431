"""Brevitas → QONNX export of trained basecallers."""
