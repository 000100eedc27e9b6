rule fit_ridge:
    input:
        lambda wc: preprocessed(wc.session),
        source=lambda wc: source_record(wc.session),
    output:
        "results/models/ridge/{session}.json",
    log:
        "results/logs/fit_ridge/{session}.log",
    benchmark:
        "results/benchmarks/fit_ridge/{session}.tsv"
    conda:
        ENV
    threads: config["threads"]["evaluate"]
    resources:
        runtime=config["runtime_min"]["default"],
        mem_mb=config["mem_mb"]["evaluate"],
    script:
        "../scripts/fit_ridge.py"


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        json="results/eval/{model}/{session}/seed{seed}.json",
        predictions="results/eval/{model}/{session}/seed{seed}.predictions.npz",
    log:
        "results/logs/evaluate/{model}_{session}_seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{model}_{session}_seed{seed}.tsv"
    conda:
        ENV
    threads: config["threads"]["evaluate"]
    resources:
        runtime=config["runtime_min"]["evaluate"],
        mem_mb=config["mem_mb"]["evaluate"],
        gpu=config["eval_gpus"],
    params:
        batch_steps=config["evaluation"]["batch_steps"],
        mode=config["evaluation"]["mode"],
        device=config["device"],
    script:
        "../scripts/evaluate.py"


rule summarize:
    input:
        eval_jsons,
    output:
        "results/results_{model}_{session}.json",
    log:
        "results/logs/summarize/{model}_{session}.log",
    benchmark:
        "results/benchmarks/summarize/{model}_{session}.tsv"
    conda:
        ENV
    script:
        "../scripts/summarize.py"


rule summarize_model:
    input:
        lambda wc: [f"results/results_{wc.model}_{s}.json" for s in SESSIONS],
    output:
        summary="results/results_summary_{model}.json",
        spread="results/results_summary_{model}.spread.json",
    log:
        "results/logs/summarize_model/{model}.log",
    benchmark:
        "results/benchmarks/summarize_model/{model}.tsv"
    conda:
        ENV
    params:
        sessions=SESSIONS,
    script:
        "../scripts/summarize_model.py"


rule metrics_table:
    input:
        all_eval_jsons(),
    output:
        "results/metrics.tsv",
    log:
        "results/logs/metrics_table/metrics.log",
    benchmark:
        "results/benchmarks/metrics_table/metrics.tsv"
    conda:
        ENV
    params:
        sources=lambda wc: {s: session_row(s)["source"] for s in SESSIONS},
    script:
        "../scripts/metrics_table.py"


rule tables:
    input:
        metrics="results/metrics.tsv",
        paper="resources/paper_results.yaml",
    output:
        table1="results/tables/table1_r2.md",
        table2="results/tables/table2_compute.md",
        table1_html=report(
            "results/tables/table1_r2.html",
            caption="../report/table1.rst",
            category="Tables",
        ),
        table2_html=report(
            "results/tables/table2_compute.html",
            caption="../report/table2.rst",
            category="Tables",
        ),
    log:
        "results/logs/tables/tables.log",
    benchmark:
        "results/benchmarks/tables/tables.tsv"
    conda:
        ENV
    params:
        models=config["models"],
        sessions=lambda wc: [(s, session_row(s)["short_name"]) for s in SESSIONS],
    script:
        "../scripts/tables.py"


rule plot_curves:
    input:
        lambda wc: list(curve_inputs(wc).values()),
    output:
        report(
            "results/plots/curves/{network}_{session}.png",
            caption="../report/curves.rst",
            category="Training curves",
            subcategory="{network}",
        ),
    log:
        "results/logs/plot_curves/{network}_{session}.log",
    benchmark:
        "results/benchmarks/plot_curves/{network}_{session}.tsv"
    conda:
        ENV
    params:
        labels=lambda wc: list(curve_inputs(wc)),
    script:
        "../scripts/plot_curves.py"


rule plot_pruning:
    input:
        expand(
            "results/models/{{network}}/prune/{{session}}/seed{seed}.history.json",
            seed=SEEDS,
        ),
    output:
        report(
            "results/plots/pruning/{network}_{session}.png",
            caption="../report/pruning.rst",
            category="Pruning",
        ),
    log:
        "results/logs/plot_pruning/{network}_{session}.log",
    benchmark:
        "results/benchmarks/plot_pruning/{network}_{session}.tsv"
    conda:
        ENV
    script:
        "../scripts/plot_pruning.py"


rule plot_predictions:
    input:
        lambda wc: list(prediction_files(wc).values()),
    output:
        report(
            "results/plots/predictions/{session}.png",
            caption="../report/predictions.rst",
            category="Predictions",
        ),
    log:
        "results/logs/plot_predictions/{session}.log",
    benchmark:
        "results/benchmarks/plot_predictions/{session}.tsv"
    conda:
        ENV
    params:
        labels=lambda wc: list(prediction_files(wc)),
        seconds=config["evaluation"]["plot_seconds"],
    script:
        "../scripts/plot_predictions.py"


rule published_check:
    input:
        metrics="results/metrics.tsv",
        records=lambda wc: list(zenodo_records().values()),
    output:
        md="results/tables/published_check.md",
        html=report(
            "results/tables/published_check.html",
            caption="../report/published_check.rst",
            category="Tables",
        ),
    log:
        "results/logs/published_check/published_check.log",
    benchmark:
        "results/benchmarks/published_check/published_check.tsv"
    conda:
        ENV
    params:
        models=RELEASED,
        sessions=SESSIONS,
        records=lambda wc: zenodo_records(),
        md5=lambda wc: {s: session_row(s)["md5"] for s in SESSIONS},
        short_names=lambda wc: {s: session_row(s)["short_name"] for s in SESSIONS},
        authors_results=config["published"]["authors_results"],
    script:
        "../scripts/published_check.py"


rule cost_table:
    input:
        lambda wc: [
            t for t in all_targets() if not t.startswith("results/tables/cost.")
        ],
    output:
        md="results/tables/cost.md",
        html=report(
            "results/tables/cost.html",
            caption="../report/cost.rst",
            category="Tables",
        ),
    log:
        "results/logs/cost_table/cost.log",
    benchmark:
        "results/benchmarks/cost_table/cost.tsv"
    conda:
        ENV
    params:
        rounds=6,
    script:
        "../scripts/cost_table.py"


rule plot_tradeoff:
    input:
        metrics="results/metrics.tsv",
        authors=tradeoff_authors,
        paper=PAPER_RESULTS,
    output:
        report(
            "results/plots/tradeoff.svg",
            caption="../report/tradeoff.rst",
            category="Figures",
        ),
    log:
        "results/logs/plot_tradeoff/tradeoff.log",
    benchmark:
        "results/benchmarks/plot_tradeoff/tradeoff.tsv"
    conda:
        ENV
    params:
        authors_folder=config["published"]["authors_results"],
        authors_sessions=lambda wc: tradeoff_sessions(),
    script:
        "../scripts/plot_tradeoff.py"
