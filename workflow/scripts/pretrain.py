"""Rule pretrain: train a network on all pretraining sessions of one monkey."""

from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.network.config import model_config_from
from rsnn_decoding.runtime import set_threads
from rsnn_decoding.training.config import train_config_from
from rsnn_decoding.training.stages import pretrain

setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
net = snakemake.wildcards.network
run_cli(
    pretrain,
    list(snakemake.input),
    model_config_from(net, snakemake.params.network),
    train_config_from(snakemake.params.training, snakemake.params.stage, snakemake.params.network),
    seed=int(snakemake.wildcards.seed),
    out_checkpoint=snakemake.output.checkpoint,
    out_history=snakemake.output.history,
    state_path=snakemake.params.state,
    device=snakemake.params.device,
    engine=snakemake.params.engine,
)
