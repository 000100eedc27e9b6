"""Rule evaluate: NeuroBench metrics of one model and seed on a session's test sequence."""

from rsnn_decoding.data.provenance import check_preprocessed
from rsnn_decoding.errors import run_cli
from rsnn_decoding.evaluation.jobs import evaluate_to_json
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.runtime import set_threads

setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
run_cli(check_preprocessed, snakemake.input.data, snakemake.wildcards.session, snakemake.input.source)
run_cli(
    evaluate_to_json,
    snakemake.wildcards.model,
    snakemake.input.model,
    snakemake.input.data,
    snakemake.output.json,
    seed=int(snakemake.wildcards.seed),
    batch_steps=snakemake.params.batch_steps,
    predictions_out=snakemake.output.predictions,
    mode=snakemake.params.mode,
    device=snakemake.params.device,
    source_record=snakemake.input.source,
    repo=snakemake.scriptdir,
)
