"""Rule plot_curves: training and validation R2 and RMSE per epoch for every stage and seed."""

from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.reporting.figures import plot_training_curves

setup_logging(snakemake.log[0])
run_cli(
    plot_training_curves,
    dict(zip(snakemake.params.labels, snakemake.input, strict=True)),
    snakemake.output[0],
    title=f"{snakemake.wildcards.network} on {snakemake.wildcards.session}",
)
