"""The dataflow graph (FINN-style op set in the project's own domain): the golden model."""
