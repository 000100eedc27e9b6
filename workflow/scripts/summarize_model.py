"""Rule summarize_model: mean and std per session of one model, and their average."""

from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging, write_json
from rsnn_decoding.reporting.summaries import summarize_model

setup_logging(snakemake.log[0])
per_session = dict(zip(snakemake.params.sessions, snakemake.input, strict=True))
run_cli(lambda: write_json(snakemake.output[0], summarize_model(per_session)))
