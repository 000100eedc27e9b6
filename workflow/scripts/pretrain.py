"""Rule pretrain: train a network on all pretraining sessions of one monkey."""

from pathlib import Path

from rsnn_decoding.data.provenance import check_preprocessed
from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.network.config import model_config_from
from rsnn_decoding.runtime import set_threads
from rsnn_decoding.training.config import train_config_from
from rsnn_decoding.training.stages import pretrain

setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
net = snakemake.wildcards.network
for h5, record in zip(snakemake.input.data, snakemake.input.sources, strict=True):
    run_cli(check_preprocessed, h5, Path(h5).stem, record)  # results/preprocessed/{session}.h5
run_cli(
    pretrain,
    list(snakemake.input.data),
    model_config_from(net, snakemake.params.network),
    train_config_from(snakemake.params.training, snakemake.params.stage, snakemake.params.network),
    seed=int(snakemake.wildcards.seed),
    out_checkpoint=snakemake.output.checkpoint,
    out_history=snakemake.output.history,
    state_path=snakemake.params.state,
    device=snakemake.params.device,
    engine=snakemake.params.engine,
)
