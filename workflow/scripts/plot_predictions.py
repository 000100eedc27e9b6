"""Rule plot_predictions: predicted against true velocity on a stretch of the test sequence."""

from rsnn_decoding.config import set_threads
from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.report import plot_predictions

setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
run_cli(
    plot_predictions,
    snakemake.input.data,
    dict(zip(snakemake.params.labels, snakemake.input.models, strict=True)),
    snakemake.output[0],
    seconds=snakemake.params.seconds,
)
