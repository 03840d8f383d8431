"""Signal input, normalisation, chunking and the read simulator."""
