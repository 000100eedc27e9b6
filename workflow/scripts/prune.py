"""Rule prune: the iterative magnitude-pruning search of METHOD.md §5."""

from rsnn_decoding.data.provenance import check_preprocessed
from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.runtime import set_threads
from rsnn_decoding.training.config import train_config_from
from rsnn_decoding.training.prune import prune

setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
opts = snakemake.params.pruning
stage = {"epochs": opts["epochs"], "t_max": opts["t_max"]}
run_cli(check_preprocessed, snakemake.input.data, snakemake.wildcards.session, snakemake.input.source)
run_cli(
    prune,
    snakemake.input.finetuned,
    snakemake.input.data,
    train_config_from(snakemake.params.training, stage, snakemake.params.network),
    seed=int(snakemake.wildcards.seed),
    out_checkpoint=snakemake.output.checkpoint,
    out_history=snakemake.output.history,
    state_dir=snakemake.params.state,
    device=snakemake.params.device,
    engine=snakemake.params.engine,
    p_start=opts["p_start"],
    steps=tuple(opts["steps"]),
    tolerance=opts["tolerance"],
    p_max=opts["p_max"],
    max_rounds=opts["max_rounds"],
)
