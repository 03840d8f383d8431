"""Integer arithmetic that several stages must compute identically (below nn and ir, DESIGN §3)."""
