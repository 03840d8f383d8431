"""Search a basecaller for a board (QABAS): ops, widths, depth and bit-widths under the hardware cost; rerun to resume.

Differentiable weight-sharing search over a space YAML (models/search/*.yaml): alternating
weight steps (CTC on training chunks) and architecture steps (CTC on validation chunks + λ ·
the expected LUT/BRAM/DSP/cycles of the network, from the build's own calibrated estimates,
against the target's budget at the throughput target). Writes derived.yaml (an ordinary model
YAML: the most probable architecture that fits the budget), pareto.csv/json/png, search_log.csv and search.json. Under `torchrun --nproc_per_node N`
it runs data-parallel (gloo on CPU, nccl on CUDA), each process on its shard of the global batch.
"""
import argparse
import os
from dataclasses import fields
from pathlib import Path

from flow.cli.common import check_output
from flow.errors import FlowError
from flow.search.search import SearchConfig


def add_arguments(p):
    from flow.build.pipeline import CHUNK_LEN

    p.add_argument("space", type=Path, help="search-space YAML (e.g. models/search/pynq_default.yaml)")
    p.add_argument("datasets", type=Path, nargs="+", help="chunk dataset directories (rubicon chunkify; with --teacher "
                                                          "their references are the teacher's calls)")
    p.add_argument("-o", "--out", required=True, type=Path, help="search directory (checkpoint, logs, derived.yaml)")
    p.add_argument("--target", default="pynq-z2", help="target name in targets/ (default %(default)s)")
    p.add_argument("--samples-per-s", type=float, default=None,
                   help="effective input samples/s to reach (new signal, chunk overlap excluded; MinION real time is "
                        "2048000); default: none, the least-resource folding of every layer")
    p.add_argument("--headroom", type=float, default=0.15, help="budget fraction kept free (default %(default)s)")
    p.add_argument("--reserve", type=float, default=0.05,
                   help="fraction of the budget kept for FIFOs and width converters (default %(default)s)")
    p.add_argument("--chunk-len", type=int, default=CHUNK_LEN, help="samples per chunk the hardware streams "
                                                                   "(cost model; default %(default)s)")
    p.add_argument("--valid-chunks", type=int, default=200, help="chunks held out for the architecture steps "
                                                                 "(default %(default)s)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="(default %(default)s)")
    for f in fields(SearchConfig):
        if f.name == "init":
            p.add_argument("--init", metavar="MODEL", help="start the shared weights from this trained chain model "
                           "(e.g. rubicall_pynq: its stem, then one layer per slot); from random weights the supernet "
                           "sits on the CTC blank plateau and the search drifts to identity slots")
            continue
        if isinstance(f.default, bool):
            p.add_argument(f"--{f.name.replace('_', '-')}", action=argparse.BooleanOptionalAction, default=f.default,
                           help="(default %(default)s)")
            continue
        kind = int if f.name == "max_steps" else type(f.default)
        p.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=f.default, help="(default %(default)s)")


def _init_distributed(device: str) -> str:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK: join the process group; returns this process's device."""
    import torch

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    torch.distributed.init_process_group("nccl" if device == "cuda" else "gloo")
    return f"cuda:{torch.cuda.current_device()}" if device == "cuda" else device


def run(args):
    import torch

    from flow.data.chunks import load_chunk_dataset
    from flow.search.hwcost import CostModel
    from flow.search.search import run_search
    from flow.search.space import load_space
    from flow.train.ctc import total_ctc_loss
    from flow.train.trainer import TrainConfig, _Data

    cfg = SearchConfig(**{f.name: getattr(args, f.name) for f in fields(SearchConfig)})
    space = load_space(args.space)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise FlowError("--device cuda: no CUDA device is available")
    for dataset in args.datasets:  # every input is read before the search folder is made
        load_chunk_dataset(dataset)
    if cfg.init:
        from flow.search.supernet import Supernet
        from flow.search.warmstart import warm_start

        warm_start(Supernet(space), cfg.init, cfg.init_prior)  # a model that does not fit the space fails here, before any file
    check_output(args.out)
    if args.chunk_len % space.stride:
        raise FlowError(f"--chunk-len {args.chunk_len} is not a multiple of the stem stride {space.stride}")
    costs = CostModel(space, args.target, chunk_len=args.chunk_len, samples_per_s=args.samples_per_s,
                      headroom=args.headroom, reserve=args.reserve)
    costs.check_fixed()
    data = _Data(list(args.datasets), TrainConfig(batch_size=cfg.batch_size, valid_chunks=args.valid_chunks, seed=cfg.seed))

    device = _init_distributed(args.device)
    try:
        summary = run_search(space, data, args.out, cfg, costs, total_ctc_loss, device=device)
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    if summary:
        e = summary["estimate"]
        print(f"{summary['derived']}: {summary['architecture']}")
        print(f"  estimate on {costs.target.name}: LUT {e['lut']:,.0f} ({100 * e['lut_fraction']:.0f}%), "
              f"BRAM18 {e['bram18']:,.0f} ({100 * e['bram18_fraction']:.0f}%), DSP {e['dsp']:,.0f} "
              f"({100 * e['dsp_fraction']:.0f}%), {e['effective_samples_per_s'] / 1e6:.3f} M effective samples/s")
