rule pretrain:
    input:
        data=pretrain_inputs,
        sources=pretrain_records,
    output:
        checkpoint="results/models/{network}/pretrain/{monkey}/seed{seed}.pt",
        history="results/models/{network}/pretrain/{monkey}/seed{seed}.history.json",
    log:
        "results/logs/pretrain/{network}_{monkey}_seed{seed}.log",
    benchmark:
        "results/benchmarks/pretrain/{network}_{monkey}_seed{seed}.tsv"
    conda:
        ENV
    threads: config["threads"]["train"]
    resources:
        **train_resources("pretrain"),
    params:
        network=lambda wc: network_params(config, wc.network, "pretrain"),
        training=training_params(config),
        stage=stage_params(config, "pretrain"),
        state="results/state/{network}/pretrain/{monkey}/seed{seed}.state.pt",
        device=config["device"],
        engine=config["engine"],
    script:
        "../scripts/pretrain.py"


rule finetune:
    input:
        pretrained=lambda wc: model_dir(
            wc.network, "pretrain", session_row(wc.session)["monkey"], wc.seed
        ),
        data=lambda wc: preprocessed(wc.session),
        source=lambda wc: source_record(wc.session),
    output:
        checkpoint="results/models/{network}/finetune/{session}/seed{seed}.pt",
        history="results/models/{network}/finetune/{session}/seed{seed}.history.json",
    log:
        "results/logs/finetune/{network}_{session}_seed{seed}.log",
    benchmark:
        "results/benchmarks/finetune/{network}_{session}_seed{seed}.tsv"
    conda:
        ENV
    threads: config["threads"]["train"]
    resources:
        **train_resources("finetune"),
    params:
        network=lambda wc: network_params(config, wc.network, "finetune"),
        training=training_params(config),
        stage=stage_params(config, "finetune"),
        state="results/state/{network}/finetune/{session}/seed{seed}.state.pt",
        device=config["device"],
        engine=config["engine"],
    script:
        "../scripts/finetune.py"


rule prune:
    input:
        finetuned="results/models/{network}/finetune/{session}/seed{seed}.pt",
        data=lambda wc: preprocessed(wc.session),
        source=lambda wc: source_record(wc.session),
    output:
        checkpoint="results/models/{network}/prune/{session}/seed{seed}.pt",
        history="results/models/{network}/prune/{session}/seed{seed}.history.json",
    log:
        "results/logs/prune/{network}_{session}_seed{seed}.log",
    benchmark:
        "results/benchmarks/prune/{network}_{session}_seed{seed}.tsv"
    conda:
        ENV
    threads: config["threads"]["train"]
    resources:
        **train_resources("prune"),
    params:
        network=lambda wc: network_params(config, wc.network, "prune"),
        training=training_params(config),
        pruning=stage_params(config, "prune"),
        state="results/state/{network}/prune/{session}/seed{seed}",
        device=config["device"],
        engine=config["engine"],
    script:
        "../scripts/prune.py"


rule to_half:
    input:
        half_input,
    output:
        "results/models/{network}/half/{session}/seed{seed}.pt",
    log:
        "results/logs/to_half/{network}_{session}_seed{seed}.log",
    benchmark:
        "results/benchmarks/to_half/{network}_{session}_seed{seed}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        runtime=config["runtime_min"]["default"],
        mem_mb=config["mem_mb"]["default"],
    script:
        "../scripts/to_half.py"
