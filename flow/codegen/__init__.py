"""C++ generation from a folded dataflow graph, and the C-simulation that checks it."""
