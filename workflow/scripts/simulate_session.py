"""Rule simulate_session: write a synthetic session in the Zenodo .mat format and its checksum record."""

from rsnn_decoding.data.provenance import write_source_record
from rsnn_decoding.data.simulate import simulate_to_mat
from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging

setup_logging(snakemake.log[0])
run_cli(
    simulate_to_mat,
    snakemake.output.mat,
    monkey=snakemake.params.monkey,
    duration_s=snakemake.params.duration_s,
    seed=snakemake.params.seed,
)
run_cli(write_source_record, snakemake.output.mat, snakemake.output.checksums, source="simulate_session")
