"""Build a verified streaming accelerator for a model on a target board.

export → lower → fold → estimate → codegen → FIFO sizing → C-simulation → cycle simulation →
report, into a build folder with a manifest (a rerun reuses finished stages, and a build
stopped by Ctrl-C or SIGTERM resumes at the stage it was in). Runs the vendor tools when they
are on PATH; otherwise names the Tcl to run where they are."""
import signal
import sys
from pathlib import Path

from flow.build.pipeline import CHUNK_LEN, BuildConfig, build


def add_arguments(p):
    p.add_argument("--model", default="rubicall_pynq", help="shipped model name or .pt file (default %(default)s)")
    p.add_argument("--target", default="pynq-z2", help="target name in targets/ (default %(default)s)")
    p.add_argument("-o", "--out", type=Path, help="build folder (default build/<target>/<model>)")
    p.add_argument("--chunk-len", type=int, default=CHUNK_LEN, help="samples per chunk (default %(default)s)")
    speed = p.add_mutually_exclusive_group()
    speed.add_argument("--fps", type=float, help="chunks/s to reach with the least resources (default: fit the budget)")
    speed.add_argument("--samples-per-s", type=float, help="input samples/s to reach with the least resources")
    p.add_argument("--headroom", type=float, default=0.15, help="budget fraction kept free when fitting (default %(default)s)")
    p.add_argument("--chunks", type=int, default=8, help="chunks verified in C-sim and cycle sim (default %(default)s, ≥ 4)")
    p.add_argument("--update-calibration", action="store_true",
                   help="store this build's measured/estimated factors in targets/<target>.calibration.yaml, "
                        "which folding and the architecture search read")


class Terminated(BaseException):
    """SIGTERM, raised where the build is, so a running tool is stopped (subprocess cleanup) and
    the stage it was in is never recorded as done."""


def _terminate(signum, frame):
    raise Terminated()


def run(args):
    from flow.errors import FlowError

    if args.chunks < 4:
        raise FlowError("--chunks must be at least 4 (real-read chunks plus the saturating and zero chunks)")
    cfg = BuildConfig(model=args.model, target=args.target, out=args.out, chunk_len=args.chunk_len, fps=args.fps,
                      samples_per_s=args.samples_per_s, headroom=args.headroom, chunks=args.chunks,
                      update_calibration=args.update_calibration)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        report = build(cfg)
    except (KeyboardInterrupt, Terminated) as exc:
        print(f"rubicon build: interrupted; finished stages are kept in {cfg.build_dir / 'manifest.json'}: "
              "run the same command again to resume", file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, previous)
    t = report["throughput"]
    print(f"{cfg.build_dir}: {report['model']} on {report['target']}: {t['samples_per_s'] / 1e6:.3f} M samples/s "
          f"({100 * t['minion_fraction']:.0f}% of MinION real time)")
    for stage in ("csim", "cyclesim"):
        if stage in report:
            r = report[stage]
            print(f"  {stage}: bit-exact over {r['elements_compared']} elements of {r['chunks']} chunks")
    if "cyclesim" in report:
        print(f"  cycles per chunk: {report['cyclesim']['cycles_per_chunk']:.0f} simulated, "
              f"{report['estimate']['cycles_per_chunk']} estimated; latency {report['cyclesim']['latency_cycles']} cycles")
    if "vendor" in report and "skipped" in report["vendor"]:
        print(f"  {report['vendor']['skipped']}")
    print(f"  report: {cfg.build_dir / 'report.md'}")
