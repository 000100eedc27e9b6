"""Rule to_half: convert a trained network to float16 (SPEC section 5)."""

from rsnn_decoding.checkpoint import to_half
from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging

setup_logging(snakemake.log[0])
run_cli(to_half, snakemake.input[0], snakemake.output[0])
