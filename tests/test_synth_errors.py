"""The resource rows `rubicon synth` adds to a report's calibration errors, by hand."""
from flow.cli.synth import add_resource_errors


def test_resource_errors_before_and_after_calibration_by_hand():
    report = {"calibration": {"file": "calibration.yaml", "error_before": {"MVAU": {"cycles": 0.01}},
                              "error_after": {"MVAU": {"cycles": 0.0}}},
              "nodes": [
                  {"op_type": "MVAU", "estimate": {"lut": 50, "ff": 10, "bram18": 1, "dsp": 0},
                   "calibrated": {"lut": 90, "ff": 10, "bram18": 1, "dsp": 0},
                   "measured": {"lut": 100, "ff": 20, "bram18": 1, "dsp": 0}},
                  {"op_type": "MVAU", "estimate": {"lut": 300, "ff": 40, "bram18": 0, "dsp": 0},
                   "calibrated": {"lut": 220, "ff": 40, "bram18": 0, "dsp": 0},
                   "measured": {"lut": 200, "ff": 40, "bram18": 0, "dsp": 0}},
                  {"op_type": "FMPadding1D", "estimate": {"lut": 10, "ff": 5, "bram18": 0, "dsp": 0}},  # not measured
              ]}
    add_resource_errors(report)
    before, after = report["calibration"]["error_before"], report["calibration"]["error_after"]
    # LUT: |50-100|/100 = 0.5 and |300-200|/200 = 0.5 -> 0.5; calibrated 0.1 and 0.1 -> 0.1
    assert before["MVAU"]["lut"] == 0.5 and after["MVAU"]["lut"] == 0.1
    # FF: 0.5 and 0 -> 0.25 both ways; BRAM18 measured only on the first node: exact; DSP never measured
    assert before["MVAU"]["ff"] == after["MVAU"]["ff"] == 0.25
    assert before["MVAU"]["bram18"] == 0.0 and "dsp" not in before["MVAU"]
    assert before["MVAU"]["cycles"] == 0.01 and "FMPadding1D" not in before
