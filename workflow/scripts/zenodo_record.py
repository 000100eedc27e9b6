"""Rule zenodo_record: fetch the Zenodo record metadata (every file's md5) once."""

from rsnn_decoding.data.zenodo import fetch_record
from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging

setup_logging(snakemake.log[0])
run_cli(
    fetch_record,
    snakemake.params.url,
    snakemake.output[0],
    retries=snakemake.params.retries,
    backoff_s=snakemake.params.backoff_s,
    timeout_s=snakemake.params.timeout_s,
)
