"""Rule fit_ridge: fit the ridge-regression (Wiener filter) baseline of a session."""

from rsnn_decoding.data.provenance import check_preprocessed
from rsnn_decoding.errors import run_cli
from rsnn_decoding.evaluation.ridge import fit_ridge_model
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.runtime import set_threads

setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
run_cli(check_preprocessed, snakemake.input[0], snakemake.wildcards.session, snakemake.input.source)
run_cli(fit_ridge_model, snakemake.input[0], snakemake.output[0])
