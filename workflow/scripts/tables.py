"""Rule tables: the paper's Table 1 (R2) and Table 2 (computational demand) as Markdown."""

from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.reporting.tables import write_tables

setup_logging(snakemake.log[0])
run_cli(
    write_tables,
    dict(zip(snakemake.params.models, snakemake.input.summaries, strict=True)),
    sessions=[tuple(s) for s in snakemake.params.sessions],
    paper_yaml=snakemake.input.paper,
    source="+".join(snakemake.params.source),
    seeds=list(snakemake.params.seeds),
    out_table1=snakemake.output.table1,
    out_table2=snakemake.output.table2,
)
