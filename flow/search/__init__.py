"""QABAS: quantization-aware, hardware-aware architecture search (DESIGN §8)."""
