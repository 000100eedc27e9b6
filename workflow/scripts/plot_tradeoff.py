"""Rule plot_tradeoff: test R2 against effective operations and footprint, beside the published points."""

from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.reporting.tradeoff import plot_tradeoff

setup_logging(snakemake.log[0])
run_cli(
    plot_tradeoff,
    snakemake.input.metrics,
    snakemake.params.authors_folder,
    snakemake.input.paper,
    snakemake.output[0],
    sessions=snakemake.params.authors_sessions,
)
