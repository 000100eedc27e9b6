"""Rule plot_predictions: predicted against true velocity on a stretch of the test sequence."""

from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.reporting.figures import plot_predictions

setup_logging(snakemake.log[0])
run_cli(
    plot_predictions,
    dict(zip(snakemake.params.labels, snakemake.input, strict=True)),
    snakemake.output[0],
    seconds=snakemake.params.seconds,
    title=snakemake.wildcards.session,
)
