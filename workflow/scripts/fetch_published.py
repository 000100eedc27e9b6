"""Rule fetch_published: download one released checkpoint of the authors and verify its digests."""

from rsnn_decoding.errors import run_cli
from rsnn_decoding.evaluation.released_fetch import fetch_from_manifest
from rsnn_decoding.fsutil import setup_logging

setup_logging(snakemake.log[0])
run_cli(
    fetch_from_manifest,
    snakemake.input.manifest,
    snakemake.params.base_url,
    snakemake.wildcards.model,
    snakemake.wildcards.session,
    int(snakemake.wildcards.seed),
    snakemake.output[0],
    retries=snakemake.params.retries,
    backoff_s=snakemake.params.backoff_s,
    timeout_s=snakemake.params.timeout_s,
)
