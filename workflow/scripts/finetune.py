"""Rule finetune: train the pretrained network on one challenge session."""

from rsnn_decoding.data.provenance import check_preprocessed
from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.runtime import set_threads
from rsnn_decoding.training.config import train_config_from
from rsnn_decoding.training.stages import finetune

setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
run_cli(check_preprocessed, snakemake.input.data, snakemake.wildcards.session, snakemake.input.source)
run_cli(
    finetune,
    snakemake.input.pretrained,
    snakemake.input.data,
    train_config_from(snakemake.params.training, snakemake.params.stage, snakemake.params.network),
    seed=int(snakemake.wildcards.seed),
    out_checkpoint=snakemake.output.checkpoint,
    out_history=snakemake.output.history,
    state_path=snakemake.params.state,
    device=snakemake.params.device,
    engine=snakemake.params.engine,
)
