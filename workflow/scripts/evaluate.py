"""Rule evaluate: NeuroBench metrics of one model and seed on a session's test sequence."""

from rsnn_decoding.config import set_threads
from rsnn_decoding.errors import run_cli
from rsnn_decoding.evaluate import evaluate_to_json
from rsnn_decoding.fsutil import setup_logging

setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
run_cli(
    evaluate_to_json,
    snakemake.wildcards.model,
    snakemake.input.model,
    snakemake.input.data,
    snakemake.output[0],
    seed=int(snakemake.wildcards.seed),
    batch_steps=snakemake.params.batch_steps,
)
