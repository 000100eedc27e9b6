"""Rule summarize: the per-seed metric lists of one model on one session (the authors' layout)."""

from rsnn_decoding import jobinfo
from rsnn_decoding.errors import run_cli
from rsnn_decoding.fsutil import read_json, setup_logging, write_json
from rsnn_decoding.reporting.summaries import summarize_session

setup_logging(snakemake.log[0])
evals = list(snakemake.input)


def main() -> None:
    """Summarize the evaluations, with what they were computed from under details.provenance."""
    docs = [read_json(p) for p in evals]
    provenance = jobinfo.collect({"evals": evals}, {}, jobinfo.agreed(d.get("device") for d in docs),
                                 jobinfo.agreed(d.get("dtype") for d in docs), repo=snakemake.scriptdir)
    write_json(snakemake.output[0], summarize_session(evals, provenance=provenance))


run_cli(main)
