"""pyproject.toml declares tested ranges; requirements.txt is the exact lock that satisfies them."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def lock() -> dict[str, Version]:
    """Canonical name -> version of every pin of requirements.txt (each line must be `name==version`)."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9_.+\-]*", line), f"not an exact pin: {line}"
        name, version = line.split("==")
        pins[canonicalize_name(name)] = Version(version)
    return pins


def declared() -> list[Requirement]:
    """Every requirement of pyproject.toml: dependencies and all extras."""
    lines = list(PROJECT["dependencies"])
    for extra in PROJECT["optional-dependencies"].values():
        lines += extra
    return [Requirement(line) for line in lines]


def extra_requirements(dist: str, extra: str) -> list[Requirement]:
    """The requirements an installed distribution adds for one of its extras."""
    out = []
    for line in importlib.metadata.requires(dist) or []:
        req = Requirement(line)
        if req.marker is not None and "extra" in str(req.marker) and req.marker.evaluate({"extra": extra}):
            out.append(req)
    return out


def test_every_lock_pin_satisfies_the_declared_ranges():
    pins = lock()
    for req in declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is declared in pyproject.toml but not pinned in requirements.txt"
        assert req.specifier.contains(pins[name], prereleases=True), f"lock {name}=={pins[name]} violates {req}"
        for extra in req.extras:  # e.g. snakemake[reports]: what the extra pulls in is locked too
            for sub in extra_requirements(req.name, extra):
                sub_name = canonicalize_name(sub.name)
                assert sub_name in pins, f"{sub} (from {req.name}[{extra}]) is not pinned in requirements.txt"
                assert sub.specifier.contains(pins[sub_name], prereleases=True)


def test_torch_and_snakemake_are_ranges_that_keep_a_cuda_build():
    deps = {canonicalize_name(Requirement(d).name): Requirement(d) for d in PROJECT["dependencies"]}
    for name in ("torch", "snakemake"):
        assert not any(s.operator in ("==", "===") for s in deps[name].specifier), deps[name]
    assert deps["torch"].specifier.contains("2.13.0+cu128") and deps["torch"].specifier.contains("2.13.1")
    assert not deps["torch"].specifier.contains("2.14.0")
    assert str(deps["neurobench"].specifier) == "==2.3.*"
    assert "reports" in deps["snakemake"].extras  # what `snakemake --report` needs beyond snakemake


def test_report_dependencies_are_declared_not_borrowed_from_pytest():
    reports = {canonicalize_name(r.name) for r in extra_requirements("snakemake", "reports")}
    assert "pygments" in reports
    assert reports <= set(lock())


def test_development_tools_and_slurm_plugin_are_extras():
    extras = PROJECT["optional-dependencies"]
    dev = {canonicalize_name(Requirement(r).name) for r in extras["dev"]}
    assert dev == {"pytest", "ruff", "snakefmt", "playwright"}
    assert [canonicalize_name(Requirement(r).name) for r in extras["slurm"]] == ["snakemake-executor-plugin-slurm"]
    core = {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]}
    assert not core & {"pytest", "ruff", "snakefmt", "playwright", "snakemake-executor-plugin-slurm"}


def test_version_is_defined_once_in_the_package():
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "rsnn_decoding.__version__"}
    init = ast.parse((ROOT / "src/rsnn_decoding/__init__.py").read_text())
    literals = [
        node.value.value
        for node in init.body
        if isinstance(node, ast.Assign)
        and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["__version__"]
        and isinstance(node.value, ast.Constant)
    ]
    assert len(literals) == 1  # a plain literal: setuptools reads it without importing the package
    assert importlib.metadata.version("rsnn-decoding") == literals[0]


@pytest.mark.slow
@pytest.mark.parametrize("target", [".", ".[dev,slurm]"])
def test_pip_keeps_the_installed_lock(target):
    # The environment holds exactly the lock (with its local torch build, e.g. +cpu or +cu128): installing the
    # project from pyproject.toml must resolve offline and install nothing but the project itself.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-build-isolation", "-e", target],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    would = [line for line in result.stdout.splitlines() if line.startswith("Would install")]
    assert len(would) == 1 and re.fullmatch(r"Would install rsnn-decoding-[0-9.]+", would[0]), would


def test_env_files_name_the_test_that_checks_them():
    for env in sorted((ROOT / "envs").glob("*.yaml")):
        refs = re.findall(r"(tests/[\w/]+\.py)::(\w+)", env.read_text())
        assert refs, f"{env.name}: no tests/FILE.py::TEST reference in its comment"
        for path, name in refs:
            source = ROOT / path
            assert source.is_file(), f"{env.name} names {path}, which does not exist"
            assert re.search(rf"^def {name}\(", source.read_text(), re.M), f"{env.name}: {path} has no {name}"


def test_readme_gpu_paragraph_installs_the_locked_torch_build_then_the_project():
    text = (ROOT / "README.md").read_text()
    gpu = text.split("\n## GPU\n", 1)[1].split("\n## ", 1)[0]
    torch_line = re.search(r"pip install torch==(\S+) --index-url https://download\.pytorch\.org/whl/cu\d+", gpu)
    assert torch_line, "no CUDA torch install line in the GPU section"
    version = Version(torch_line.group(1))
    assert version == lock()["torch"]
    torch_req = next(Requirement(d) for d in PROJECT["dependencies"] if Requirement(d).name == "torch")
    assert torch_req.specifier.contains(f"{version}+cu128")
    assert gpu.index("pip install torch") < gpu.index("pip install -e ")  # torch first, then the project
    assert "--no-deps" not in gpu and "device: auto" in gpu
    assert yaml.safe_load((ROOT / "config/config.yaml").read_text())["device"] == "auto"
