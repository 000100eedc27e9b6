"""Rule preprocess: bin spikes, compute velocity and the paper's splits (NeuroBench-identical)."""

from rsnn_decoding.data.preprocess import preprocess_file
from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging

setup_logging(snakemake.log[0])
run_cli(
    preprocess_file,
    snakemake.input[0],
    snakemake.output[0],
    session=snakemake.wildcards.session,
    monkey=snakemake.params.monkey,
    expected_channels=snakemake.params.channels,
)
