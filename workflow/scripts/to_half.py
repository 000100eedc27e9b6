"""Rule to_half: convert a trained network to float16 (METHOD.md §5)."""

from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.training.checkpoint import to_half

setup_logging(snakemake.log[0])
run_cli(to_half, snakemake.input[0], snakemake.output[0])
