"""Simulate raw reads from a reference (or a random genome) with the R9.4.1 k-mer model.

Writes DIR/reads.pod5 (the signal), DIR/truth.fasta (each read's true sequence),
DIR/truth.hdf5 (signal + per-base alignment, Taiyaki mapped-signal layout),
DIR/reads.tsv (per-read speed, drift, scale, offset) and DIR/simulation.yaml (config, seed).
"""
from dataclasses import fields
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from flow.data.fastx import read_fasta, write_fasta
from flow.data.pore_model import PoreModel, random_genome
from flow.data.simulate import SimConfig, config_dict, simulate_genome, write_mapped_signal, write_pod5
from flow.paths import PORE_MODEL, data_file
from flow.cli.common import staged_output


def add_arguments(p):
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("reference", nargs="?", help="reference FASTA to sample reads from")
    src.add_argument("--random-genome", type=int, metavar="BASES", help="sample from a random genome of this size instead")
    p.add_argument("-n", "--reads", type=int, default=20, help="number of reads (default 20)")
    p.add_argument("-o", "--out", required=True, type=Path, help="output directory")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-pod5", action="store_true", help="skip DIR/reads.pod5 (training needs only truth.hdf5; "
                   "for machines without the pod5 package)")
    p.add_argument("--pore-model", type=Path, help=f"k-mer model (default $RUBICON_DATA/{PORE_MODEL})")
    for f in fields(SimConfig):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default, help=f"(default %(default)s)")



def run(args):
    cfg = SimConfig(**{f.name: getattr(args, f.name) for f in fields(SimConfig)})
    model = PoreModel.load(args.pore_model or data_file(PORE_MODEL))
    if args.random_genome:
        genome = {"random": random_genome(args.random_genome, np.random.default_rng([args.seed, 7]))}
    else:
        genome = read_fasta(args.reference)
    sims = list(tqdm(simulate_genome(genome, args.reads, model, cfg, args.seed), total=args.reads, desc="simulate", unit="read"))
    reads = [s.read for s in sims]
    with staged_output(args.out) as out:
        if not args.no_pod5:
            write_pod5(out / "reads.pod5", reads)
        write_mapped_signal(out / "truth.hdf5", reads)
        write_fasta(out / "truth.fasta", {r.read_id: r.reference for r in reads})
        keys = list(sims[0].params)
        with open(out / "reads.tsv", "w") as handle:
            handle.write("\t".join(keys) + "\n")
            for s in sims:
                handle.write("\t".join(str(s.params[k]) for k in keys) + "\n")
        (out / "simulation.yaml").write_text(yaml.safe_dump({
            "seed": args.seed, "reads": args.reads, "source": args.reference or f"random genome {args.random_genome} bp",
            "config": config_dict(cfg)}, sort_keys=False))
    total = sum(r.signal.size for r in reads)
    print(f"simulated {len(reads)} reads, {total:,} samples, {total / sum(len(r.reference) for r in reads):.2f} samples/base → {args.out}")
