"""CTC training with checkpoint/resume, metrics and plots."""
