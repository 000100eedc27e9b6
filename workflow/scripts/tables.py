"""Rule tables: the paper's Table 1 (R2) and Table 2 (computational demand), Markdown and HTML."""

from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.reporting.tables import write_tables

setup_logging(snakemake.log[0])
run_cli(
    write_tables,
    snakemake.input.metrics,
    list(snakemake.params.models),
    sessions=[tuple(s) for s in snakemake.params.sessions],
    paper_yaml=snakemake.input.paper,
    out_table1=snakemake.output.table1,
    out_table2=snakemake.output.table2,
    html_table1=snakemake.output.table1_html,
    html_table2=snakemake.output.table2_html,
)
