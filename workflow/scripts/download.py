"""Rule download: fetch one session of Zenodo record 583331 with resume and checksums."""

from rsnn_decoding.data.download import download_session, session_url
from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging

setup_logging(snakemake.log[0])
run_cli(
    download_session,
    session_url(snakemake.params.base_url, snakemake.wildcards.session),
    snakemake.output.mat,
    expected_md5=snakemake.params.md5 or None,
    checksums_path=snakemake.output.checksums,
    retries=snakemake.params.retries,
    backoff_s=snakemake.params.backoff_s,
    timeout_s=snakemake.params.timeout_s,
)
