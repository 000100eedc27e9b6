"""Rule summarize: the per-seed metric lists of one model on one session."""

from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging, write_json
from rsnn_decoding.reporting.summaries import summarize_session

setup_logging(snakemake.log[0])
run_cli(lambda: write_json(snakemake.output[0], summarize_session(list(snakemake.input))))
