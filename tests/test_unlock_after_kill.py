"""A SIGKILLed Snakemake leaves its lock; the README's --unlock command lets the rerun start."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from readme_commands import snakemake_commands
from test_rerun_params import TINY

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))


def readme_unlock_command() -> list[str]:
    """The README's `snakemake --unlock ...` line, as argv."""
    found = [argv for argv in snakemake_commands((ROOT / "README.md").read_text()) if "--unlock" in argv]
    assert len(found) == 1, found
    return found[0]


def test_readme_explains_unlock_where_it_explains_resuming():
    text = (ROOT / "README.md").read_text()
    resume = text.index("continues from its last epoch")
    unlock = text.index("snakemake --unlock")
    assert 0 < unlock - resume < 800  # in the same passage
    assert readme_unlock_command()[:2] == ["snakemake", "--unlock"]


@pytest.mark.slow
def test_killed_run_needs_the_readme_unlock_then_reruns(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / "resources").mkdir()
    shutil.copy(ROOT / "resources/paper_results.yaml", tmp_path / "resources")
    shutil.copytree(ROOT / "resources/published/authors_results", tmp_path / "resources/published/authors_results")
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    base = [SNAKEMAKE, "-s", str(ROOT / "Snakefile")]
    config = ["--configfile", "tiny.yaml"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    proc = subprocess.Popen([*base, "--cores", "1", *config], cwd=tmp_path, start_new_session=True, **quiet)
    locks = tmp_path / ".snakemake/locks"
    deadline = time.monotonic() + 180
    while not (locks.is_dir() and any(locks.iterdir())):
        assert proc.poll() is None, "snakemake ended before taking its lock"
        assert time.monotonic() < deadline, "snakemake took no lock within 180 s"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert any(locks.iterdir())

    target = "resources/synthetic/indy_synth_01.mat"
    run = [*base, "--cores", "1", target, *config]  # targets before --configfile, which takes several values
    locked = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert locked.returncode != 0
    assert "Directory cannot be locked" in locked.stdout + locked.stderr

    unlock = readme_unlock_command()
    unlocked = subprocess.run([*base, *unlock[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert unlocked.returncode == 0, unlocked.stderr
    assert not locks.is_dir() or not any(locks.iterdir())

    rerun = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert (tmp_path / target).stat().st_size > 0
