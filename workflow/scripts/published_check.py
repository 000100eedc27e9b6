"""Rule published_check: the released networks' numbers of this run against the authors' result files."""

from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.reporting.published_check import write_check, zenodo_verified

setup_logging(snakemake.log[0])
zenodo = {
    s: zenodo_verified(snakemake.params.records.get(s), snakemake.params.md5[s])
    for s in snakemake.params.md5
}
run_cli(
    write_check,
    snakemake.input.metrics,
    list(snakemake.params.models),
    list(snakemake.params.sessions),
    snakemake.params.authors_results,
    zenodo,
    snakemake.params.short_names,
    snakemake.output.md,
    snakemake.output.html,
)
