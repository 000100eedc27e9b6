"""Rule summarize_model: the authors' summary layout (means per session and their average) and the spreads."""

from rsnn_decoding import jobinfo
from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import setup_logging, write_json
from rsnn_decoding.reporting.summaries import summarize_model, summarize_spread

setup_logging(snakemake.log[0])
per_session = dict(zip(snakemake.params.sessions, snakemake.input, strict=True))


def main() -> None:
    """Write both files; the summary keeps the authors' exact layout, so provenance goes in the spread file."""
    provenance = jobinfo.collect({"sessions": list(snakemake.input)}, {"sessions": list(snakemake.params.sessions)},
                                 repo=snakemake.scriptdir)
    write_json(snakemake.output.summary, summarize_model(per_session))
    write_json(snakemake.output.spread, summarize_spread(per_session, provenance=provenance))


run_cli(main)
