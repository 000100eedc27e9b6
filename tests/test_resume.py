"""A training process killed after an epoch checkpoint resumes to exactly the uninterrupted result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from rsnn_decoding.network.config import tiny_config
from rsnn_decoding.runtime import set_threads
from rsnn_decoding.training import checkpoint, stages
from rsnn_decoding.training import config as training_config

EPOCHS = 5
SCRIPT = f"""
import sys
from rsnn_decoding.runtime import set_threads
set_threads(1)  # torch and numba: the same thread counts as the uninterrupted run in the test
from rsnn_decoding import fsutil
from rsnn_decoding.network.config import tiny_config
from rsnn_decoding.training import config as training_config, stages
fsutil.setup_logging(None)
cfg = training_config.TrainConfig(epochs={EPOCHS}, t_max=7, window=50, offsets=(0, 25), batch_size=64)
stages.pretrain([sys.argv[1]], tiny_config(hidden=16), cfg, 3, sys.argv[2], sys.argv[3], sys.argv[4], device="cpu")
"""


def _launch(h5, out_dir, state) -> subprocess.Popen:
    """Start the training script in a fresh Python process."""
    cmd = [sys.executable, "-c", SCRIPT, str(h5), str(out_dir / "m.pt"), str(out_dir / "m.json"), str(state)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.slow
def test_sigkill_then_restart_equals_uninterrupted(indy_h5, tmp_path) -> None:
    set_threads(1)  # numba's thread count sets the summation order of the weight gradients
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    cfg = training_config.TrainConfig(epochs=EPOCHS, t_max=7, window=50, offsets=(0, 25), batch_size=64)
    stages.pretrain([indy_h5], tiny_config(hidden=16), cfg, 3, ref_dir / "m.pt", ref_dir / "m.json",
                   ref_dir / "state.pt", device="cpu")

    state = run_dir / "state" / "m.state.pt"
    proc = _launch(indy_h5, run_dir, state)
    deadline = time.monotonic() + 300
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "training finished before it could be killed"
    assert state.exists() and not (run_dir / "m.pt").exists()
    done_epochs = len(torch.load(state, weights_only=True)["history"])
    assert 1 <= done_epochs < EPOCHS

    proc = _launch(indy_h5, run_dir, state)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert f"after epoch {done_epochs}/{EPOCHS}" in err

    ref, _ = checkpoint.load(ref_dir / "m.pt")
    got, meta = checkpoint.load(run_dir / "m.pt")
    for k, v in ref.state_dict().items():
        assert torch.equal(v, got.state_dict()[k]), k
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h["epochs"]]  # noqa: E731
    assert strip(json.loads((run_dir / "m.json").read_text())) == strip(json.loads((ref_dir / "m.json").read_text()))
