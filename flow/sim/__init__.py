"""Cycle-accurate simulation of the generated accelerator (kernels from hls/, stepped per clock)."""
