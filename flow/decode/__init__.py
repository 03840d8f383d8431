"""CTC decoding of per-frame class scores (greedy, prefix beam search, qualities): below train, basecall and the build."""
