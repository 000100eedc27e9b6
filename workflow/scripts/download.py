"""Rule download: fetch one session of Zenodo record 583331 with resume, verified against its md5."""

from rsnn_decoding.data.zenodo import download_verified
from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging

setup_logging(snakemake.log[0])
run_cli(
    download_verified,
    snakemake.params.base_url,
    snakemake.wildcards.session,
    snakemake.output.mat,
    snakemake.output.checksums,
    table_md5=snakemake.params.md5,
    record_path=snakemake.input.get("record"),
    retries=snakemake.params.retries,
    backoff_s=snakemake.params.backoff_s,
    timeout_s=snakemake.params.timeout_s,
)
