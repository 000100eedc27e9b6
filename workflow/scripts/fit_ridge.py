"""Rule fit_ridge: fit the ridge-regression (Wiener filter) baseline of a session."""

from rsnn_decoding.config import set_threads
from rsnn_decoding.errors import run_cli
from rsnn_decoding.evaluate import fit_ridge_model
from rsnn_decoding.fsutil import setup_logging

setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
run_cli(fit_ridge_model, snakemake.input[0], snakemake.output[0])
