rule zenodo_record:
    output:
        ZENODO_RECORD,
    log:
        "results/logs/zenodo_record/record.log",
    benchmark:
        "results/benchmarks/zenodo_record/record.tsv"
    conda:
        ENV
    params:
        url=config["zenodo"]["record_api"],
        retries=config["zenodo"]["retries"],
        backoff_s=config["zenodo"]["backoff_s"],
        timeout_s=config["zenodo"]["timeout_s"],
    script:
        "../scripts/zenodo_record.py"


rule download:
    input:
        unpack(zenodo_record_input),
    output:
        mat="resources/zenodo/{session}.mat",
        checksums="resources/zenodo/{session}.checksums.json",
    log:
        "results/logs/download/{session}.log",
    benchmark:
        "results/benchmarks/download/{session}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        runtime=config["runtime_min"]["default"],
        mem_mb=config["mem_mb"]["default"],
    params:
        base_url=config["zenodo"]["base_url"],
        md5=lambda wc: session_row(wc.session)["md5"],
        retries=config["zenodo"]["retries"],
        backoff_s=config["zenodo"]["backoff_s"],
        timeout_s=config["zenodo"]["timeout_s"],
    script:
        "../scripts/download.py"


rule simulate_session:
    output:
        mat="resources/synthetic/{session}.mat",
        checksums="resources/synthetic/{session}.checksums.json",
    log:
        "results/logs/simulate_session/{session}.log",
    benchmark:
        "results/benchmarks/simulate_session/{session}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        runtime=config["runtime_min"]["default"],
        mem_mb=config["mem_mb"]["default"],
    params:
        monkey=lambda wc: session_row(wc.session)["monkey"],
        duration_s=lambda wc: float(session_row(wc.session)["duration_s"]),
        seed=lambda wc: int(session_row(wc.session)["sim_seed"]),
    script:
        "../scripts/simulate_session.py"


rule preprocess:
    input:
        raw_mat,
    output:
        "results/preprocessed/{session}.h5",
    log:
        "results/logs/preprocess/{session}.log",
    benchmark:
        "results/benchmarks/preprocess/{session}.tsv"
    conda:
        ENV
    threads: config["threads"]["data"]
    resources:
        runtime=config["runtime_min"]["default"],
        mem_mb=config["mem_mb"]["default"],
    params:
        monkey=lambda wc: session_row(wc.session)["monkey"],
        channels=lambda wc: int(session_row(wc.session)["channels"]),
    script:
        "../scripts/preprocess.py"


rule fetch_published:
    input:
        manifest=config["published"]["manifest"],
    output:
        "resources/published/{model}/{session}/seed{seed}.pth",
    log:
        "results/logs/fetch_published/{model}_{session}_seed{seed}.log",
    benchmark:
        "results/benchmarks/fetch_published/{model}_{session}_seed{seed}.tsv"
    wildcard_constraints:
        model="tinyRSNN|bigRSNN",
    conda:
        ENV
    threads: 1
    resources:
        runtime=config["runtime_min"]["default"],
        mem_mb=config["mem_mb"]["default"],
    params:
        base_url=config["published"]["base_url"],
        retries=config["zenodo"]["retries"],
        backoff_s=config["zenodo"]["backoff_s"],
        timeout_s=config["zenodo"]["timeout_s"],
    script:
        "../scripts/fetch_published.py"
