"""SkipClip (RUBICON): a skip-free quantized student distilled from a teacher that keeps its skips,
the student's own skips removed group by group as training goes (DESIGN §8)."""
