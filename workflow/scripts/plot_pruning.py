"""Rule plot_pruning: R2 against connection sparsity of every pruning round."""

from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.reporting.figures import plot_pruning

setup_logging(snakemake.log[0])
run_cli(
    plot_pruning,
    list(snakemake.input),
    snakemake.output[0],
    title=f"Pruning search of {snakemake.wildcards.network} on {snakemake.wildcards.session}",
)
