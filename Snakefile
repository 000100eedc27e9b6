# Reproduction of "Decoding Finger Velocity from Cortical Spike Trains with
# Recurrent Spiking Neural Networks" (Liu, Gygax, Rossbroich et al., BioCAS 2024).
#   snakemake --cores N                                  full reproduction (Zenodo)
#   snakemake --cores 2 --configfile config/demo.yaml    demo on synthetic sessions


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"


# Local: quick bookkeeping jobs, and every job that reaches the internet (compute
# nodes of a cluster are often offline).
localrules:
    all,
    zenodo_record,
    download,
    summarize,
    summarize_model,
    tables,
    metrics_table,
    cost_table,
    fetch_published,
    published_check,
    plot_curves,
    plot_pruning,
    plot_predictions,
    plot_tradeoff,


rule all:
    default_target: True
    input:
        all_targets(),
