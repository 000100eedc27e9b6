"""Rule cost_table: what each rule of this run cost (benchmark files, logs) and the paper's run projected."""

from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.reporting.cost import write_cost_table

setup_logging(snakemake.log[0])
run_cli(write_cost_table, "results", snakemake.config, snakemake.output.md, snakemake.output.html,
        rounds=snakemake.params.rounds)
