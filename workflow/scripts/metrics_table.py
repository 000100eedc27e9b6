"""Rule metrics_table: results/metrics.tsv, one row per model, session and seed."""

from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.reporting.metrics_table import write_metrics_tsv

setup_logging(snakemake.log[0])
run_cli(write_metrics_tsv, list(snakemake.input), dict(snakemake.params.sources), snakemake.output[0])
