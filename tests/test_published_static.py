"""The authors' released tinyRSNN checkpoints through `rsnn-decoding evaluate` (METHOD.md §6, §7).

The fixtures are the released files of indy01 and loco01 (tests/fixtures/published, MIT). The
opt-in test marked `shared_models` (`pytest -m shared_models`) checks all 30 released files in
../shared/published_models, outside the repository.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from test_evaluate import cli, hand_count_acs, recorded_spikes

from rsnn_decoding.data import preprocess
from rsnn_decoding.evaluation import jobs, loading, neurobench
from rsnn_decoding.reporting.published_check import authors_results

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "published"
SHARED = REPO.parent / "shared" / "published_models"
# folder -> (footprint in bytes, mean connection sparsity over the 5 seeds, rounded to 2 decimals)
EXPECTED = {
    "indy01": (21000, 0.47),
    "indy02": (21000, 0.45),
    "indy03": (21000, 0.50),
    "loco01": (33288, 0.44),
    "loco02": (33288, 0.42),
    "loco03": (33288, 0.45),
}


SESSION_OF = {"indy01": "indy_20160622_01", "indy02": "indy_20160630_01", "indy03": "indy_20170131_02",
              "loco01": "loco_20170210_03", "loco02": "loco_20170215_02", "loco03": "loco_20170301_05"}


def check_folder(folder: Path, tmp_path: Path) -> None:
    """Static numbers of the five released tinyRSNN files of one session folder (also against the authors')."""
    footprint, mean_sparsity = EXPECTED[folder.name]
    files = sorted(folder.glob("tinyRSNN-*.pth"))
    assert len(files) == 5
    sparsities = []
    for path in files:
        out = tmp_path / f"{folder.name}_{path.stem}.json"
        assert cli(["evaluate", "--checkpoint", str(path), "--static-only", "--out", str(out)]) == 0
        doc = json.loads(out.read_text())
        assert doc["footprint"] == footprint
        assert doc["parameter_count"] == footprint // 2  # float16 as published
        assert doc["model"] == "tinyRSNN" and doc["seed"] == int(path.stem.split("-")[1])
        sparsities.append(doc["connection_sparsity"])
    assert round(float(np.mean(sparsities)), 2) == mean_sparsity
    authors = authors_results(REPO / "resources/published/authors_results", "tinyRSNN_published",
                              SESSION_OF[folder.name])
    assert Counter(sparsities) == Counter(authors["connection_sparsity"])  # exactly, as multisets
    assert authors["footprint"] == [footprint] * 5


@pytest.mark.parametrize("folder", ["indy01", "loco01"])
def test_published_static_numbers(folder: str, tmp_path: Path) -> None:
    check_folder(FIXTURES / folder, tmp_path)


@pytest.mark.shared_models
@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_all_released_tinyrsnn_files_in_shared(folder: str, tmp_path: Path) -> None:
    if not (SHARED / folder).is_dir():
        pytest.fail(f"{SHARED / folder} absent: this opt-in test needs ../shared/published_models")
    check_folder(SHARED / folder, tmp_path)


def short_test_copy(src: Path, dst: Path, steps: int) -> Path:
    """Copy a preprocessed session, keeping only the first `steps` test indices (a cheaper evaluation)."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        test = f["test_index"][:steps]
        del f["test_index"]
        f["test_index"] = test
    return dst


@pytest.mark.slow
def test_published_model_full_evaluation(indy_h5: Path, tmp_path: Path) -> None:
    ckpt = FIXTURES / "indy01" / "tinyRSNN-1.pth"
    out = tmp_path / "eval.json"
    session = short_test_copy(indy_h5, tmp_path / "short.h5", 1500)
    assert cli(["evaluate", "--checkpoint", str(ckpt), "--session", str(session), "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert list(doc) == [*jobs.EVAL_KEYS, "provenance"]
    assert (doc["footprint"], doc["dense"], doc["macs"]) == (21000, 10368, 0)
    model, _ = loading.load_any(ckpt)
    assert model.dtype == torch.float16
    pre = preprocess.load_preprocessed(session)
    assert len(pre.test_index) == 1500
    x, _ = neurobench.eval_sequence(pre)
    _, spikes = recorded_spikes(model, x.transpose(0, 1))
    assert doc["acs"] == pytest.approx(hand_count_acs(model, x.transpose(0, 1), spikes), rel=1e-12)
    assert doc["activation_sparsity"] == pytest.approx(1 - spikes.double().mean().item(), rel=1e-12)
    print(f"published indy01 seed 1 on {pre.session} ({x.shape[0]} test steps): "
          f"{doc['evaluation_seconds']:.1f} s, R2 {doc['r2']:.3f}, ACs {doc['acs']:.1f}")
