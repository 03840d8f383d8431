"""Basecaller networks built from YAML: Brevitas quantized layers with per-layer bit-widths."""
