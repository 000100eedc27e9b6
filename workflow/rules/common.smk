import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# The Snakefile itself imports the package from this checkout; the scripts
# import the installed package (pip install -e .; see README).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from rsnn_decoding.config import (
    load_config,
    load_sessions,
    pretrain_sessions,
    selected_sessions,
)
from rsnn_decoding.errors import UserError, one_line
from rsnn_decoding.models import (
    RELEASED_SEEDS,
    architecture,
    model_kind,
    models_of_kind,
    wildcard_pattern,
)
from rsnn_decoding.evaluation.released_fetch import check_released_sessions
from rsnn_decoding.jobinfo import read_run_file, run_record, write_run_file
from rsnn_decoding.reporting.tradeoff import authors_files, read_paper
from rsnn_decoding.rule_params import network_params, stage_params, training_params

try:
    _valid = load_config(config)
    SESSION_TABLE = load_sessions(_valid["sessions_table"])
    SESSIONS = selected_sessions(_valid, SESSION_TABLE)
    RELEASED = models_of_kind(_valid["models"], "released")
    check_released_sessions(_valid, RELEASED, SESSIONS)
except UserError as _exc:
    sys.stderr.write(f"error: {one_line(str(_exc))}\n")
    sys.exit(1)
config.update(_valid)

NETWORKS = models_of_kind(config["models"], "trained")  # trained here (not released)
SEEDS = [int(s) for s in config["seeds"]]
MONKEYS = sorted(set(SESSION_TABLE.loc[SESSIONS, "monkey"]))
ENV = "../../envs/rsnn-decoding.yaml"
# The last run's record (written by onstart below), shown by the report's first section
# (workflow/report/workflow.rst reads it as snakemake.config["run_provenance"]); never a param.
config["run_provenance"] = read_run_file()
if RELEASED and SEEDS != list(RELEASED_SEEDS):
    logger.info(
        f"released networks ({', '.join(RELEASED)}) are evaluated on seeds "
        f"{', '.join(map(str, RELEASED_SEEDS))} (the released ones), whatever `seeds` says"
    )


wildcard_constraints:
    session="|".join(SESSION_TABLE.index),
    monkey="indy|loco",
    model=wildcard_pattern(),
    network=wildcard_pattern(("trained",)),
    seed=r"\d+",


def session_row(session):
    """The sessions-table row of one session."""
    return SESSION_TABLE.loc[session]


def raw_mat(wildcards):
    """The raw .mat of a session: a Zenodo download or a synthetic file."""
    folder = (
        "zenodo"
        if session_row(wildcards.session)["source"] == "zenodo"
        else "synthetic"
    )
    return f"resources/{folder}/{wildcards.session}.mat"


ZENODO_RECORD = "resources/zenodo/record.json"


def zenodo_record_input(wildcards):
    """The record metadata a download is verified against (none with zenodo.verify: table)."""
    return {"record": ZENODO_RECORD} if config["zenodo"]["verify"] == "record" else {}


def preprocessed(session):
    """Path of a preprocessed session."""
    return f"results/preprocessed/{session}.h5"


def source_record(session):
    """Checksum record of a session's raw .mat (written by download or simulate_session)."""
    folder = "zenodo" if session_row(session)["source"] == "zenodo" else "synthetic"
    return f"resources/{folder}/{session}.checksums.json"


def pretrain_records(wildcards):
    """Checksum records of the raw files of a monkey's pretraining sessions, in table order."""
    return [
        source_record(s)
        for s in pretrain_sessions(config, SESSION_TABLE, wildcards.monkey)
    ]


def pretrain_inputs(wildcards):
    """Preprocessed pretraining sessions of a monkey, in table order."""
    return [
        preprocessed(s)
        for s in pretrain_sessions(config, SESSION_TABLE, wildcards.monkey)
    ]


def model_dir(network, stage, where, seed):
    """Checkpoint path of one training stage."""
    return f"results/models/{network}/{stage}/{where}/seed{seed}.pt"


def trained_checkpoint(network, session, seed):
    """The checkpoint evaluated for a network: half, pruned or fine-tuned, as configured."""
    opts = config["network"][network]
    if opts["half"]:
        return model_dir(network, "half", session, seed)
    if opts["prune"]:
        return model_dir(network, "prune", session, seed)
    return model_dir(network, "finetune", session, seed)


def half_input(wildcards):
    """The float32 checkpoint that to_half converts."""
    stage = "prune" if config["network"][wildcards.network]["prune"] else "finetune"
    return model_dir(wildcards.network, stage, wildcards.session, wildcards.seed)


def eval_seeds(model):
    """Seeds evaluated for a model (ridge: seed 0 only; released networks: the released seeds)."""
    kind = model_kind(model)
    if kind == "ridge":
        return [0]
    return list(RELEASED_SEEDS) if kind == "released" else SEEDS


def released_checkpoint(model, session, seed):
    """Where fetch_published puts a released checkpoint."""
    return f"resources/published/{architecture(model)}/{session}/seed{seed}.pth"


def network_checkpoint(model, session, seed):
    """The checkpoint evaluated for a network id: trained here or released."""
    if model_kind(model) == "released":
        return released_checkpoint(model, session, seed)
    return trained_checkpoint(model, session, seed)


def evaluate_inputs(wildcards):
    """Model file and preprocessed session of one evaluation."""
    if wildcards.model == "ridge":
        model = f"results/models/ridge/{wildcards.session}.json"
    else:
        model = network_checkpoint(wildcards.model, wildcards.session, wildcards.seed)
    return {
        "model": model,
        "data": preprocessed(wildcards.session),
        "source": source_record(wildcards.session),
    }


def eval_jsons(wildcards):
    """All per-seed evaluations of a model on a session."""
    return [
        f"results/eval/{wildcards.model}/{wildcards.session}/seed{seed}.json"
        for seed in eval_seeds(wildcards.model)
    ]


def all_eval_jsons():
    """Every per-seed evaluation of the run, models and sessions in config order (metrics.tsv's rows)."""
    return [
        f"results/eval/{model}/{s}/seed{seed}.json"
        for model in config["models"]
        for s in SESSIONS
        for seed in eval_seeds(model)
    ]


def curve_inputs(wildcards):
    """Training histories plotted for a network and session."""
    monkey = session_row(wildcards.session)["monkey"]
    files = {}
    for seed in SEEDS:
        files[f"pretrain seed{seed}"] = model_dir(
            wildcards.network, "pretrain", monkey, seed
        )
        files[f"finetune seed{seed}"] = model_dir(
            wildcards.network, "finetune", wildcards.session, seed
        )
    return {k: v.replace(".pt", ".history.json") for k, v in files.items()}


def prediction_files(wildcards):
    """Test predictions shown in the plot of a session (first seed), as written by evaluate."""
    return {
        (model if model == "ridge" else f"{model} seed{seed}"): (
            f"results/eval/{model}/{wildcards.session}/seed{seed}.predictions.npz"
        )
        for model in config["models"]
        for seed in eval_seeds(model)[:1]
    }


def train_resources(stage):
    """Cluster resources of a training rule."""
    return {
        "runtime": config["runtime_min"][stage],
        "mem_mb": config["mem_mb"]["train"],
        "gpu": config["train_gpus"],
    }


TABLES = ("table1_r2", "table2_compute")


def all_targets():
    """Everything `rule all` builds."""
    targets = []
    for model in config["models"]:
        targets += [f"results/results_{model}_{s}.json" for s in SESSIONS]
        targets.append(f"results/results_summary_{model}.json")
        targets.append(f"results/results_summary_{model}.spread.json")
    targets.append("results/metrics.tsv")
    targets += [f"results/tables/{t}.{ext}" for t in TABLES for ext in ("md", "html")]
    if RELEASED:
        targets += [
            "results/tables/published_check.md",
            "results/tables/published_check.html",
        ]
    for network in NETWORKS:
        targets += [f"results/plots/curves/{network}_{s}.png" for s in SESSIONS]
        if config["network"][network]["prune"]:
            targets += [f"results/plots/pruning/{network}_{s}.png" for s in SESSIONS]
    targets += [f"results/plots/predictions/{s}.png" for s in SESSIONS]
    targets.append("results/plots/tradeoff.svg")
    targets += ["results/tables/cost.md", "results/tables/cost.html"]
    return targets


def zenodo_records():
    """Download checksum records of the selected Zenodo sessions: {session: path}."""
    return {
        s: f"resources/zenodo/{s}.checksums.json"
        for s in SESSIONS
        if session_row(s)["source"] == "zenodo"
    }


PAPER_RESULTS = "resources/paper_results.yaml"


def tradeoff_sessions():
    """Sessions of the authors' points in the trade-off figure: this run's on Zenodo data, else all the paper's."""
    paper = read_paper(PAPER_RESULTS)["sessions"]
    if set(SESSION_TABLE.loc[SESSIONS, "source"]) == {"zenodo"}:
        return [s for s in paper if s in SESSIONS]
    return paper


def tradeoff_authors(wildcards):
    """The authors' result files drawn in the trade-off figure."""
    folder = config["published"]["authors_results"]
    return [str(p) for p in authors_files(folder, tradeoff_sessions()).values()]


def run_sessions():
    """Every session this run reads (selected; pretraining ones if it trains) and its source, in table order."""
    used = set(SESSIONS)
    for monkey in MONKEYS if NETWORKS else []:
        used.update(pretrain_sessions(config, SESSION_TABLE, monkey))
    return {s: SESSION_TABLE.loc[s, "source"] for s in SESSION_TABLE.index if s in used}


# Runs only when jobs are about to run (not on dry runs, not inside cluster jobs: --no-hooks).
onstart:
    write_run_file(
        run_record(
            sys.argv,
            workflow.basedir,
            run_sessions(),
            workflow.configfiles,
            config["sessions_table"],
        )
    )
