"""Rule simulate_session: write a synthetic session in the Zenodo .mat format."""

from rsnn_decoding.data.simulate import simulate_to_mat
from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging

setup_logging(snakemake.log[0])
run_cli(
    simulate_to_mat,
    snakemake.output[0],
    monkey=snakemake.params.monkey,
    duration_s=snakemake.params.duration_s,
    seed=snakemake.params.seed,
)
