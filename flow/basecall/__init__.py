"""CTC decoding, chunk stitching and read-level basecalling."""
