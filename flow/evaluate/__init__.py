"""Read accuracy, Bonito's definition: matches / (matches + mismatches + insertions + deletions)."""
