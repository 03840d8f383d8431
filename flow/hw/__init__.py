"""Hardware side: targets, cost model, folding, calibration."""
