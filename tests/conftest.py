"""Shared fixtures: short simulated Indy and Loco sessions (.mat and preprocessed .h5), session-scoped."""

from __future__ import annotations

import pytest

from rsnn_decoding.data import preprocess, simulate

SIM_SECONDS = 100.0
SIM_SEED = 1


@pytest.fixture(scope="session")
def indy_mat(tmp_path_factory):
    """A 100 s simulated Indy session in the Zenodo .mat layout (96 channels)."""
    path = tmp_path_factory.mktemp("indy") / "indy_sim_01.mat"
    simulate.simulate_to_mat(path, "indy", SIM_SECONDS, SIM_SEED)
    return path


@pytest.fixture(scope="session")
def loco_mat(tmp_path_factory):
    """A 100 s simulated Loco session in the Zenodo .mat layout (192 channels)."""
    path = tmp_path_factory.mktemp("loco") / "loco_sim_01.mat"
    simulate.simulate_to_mat(path, "loco", SIM_SECONDS, SIM_SEED)
    return path


@pytest.fixture(scope="session")
def indy_h5(indy_mat, tmp_path_factory):
    """The preprocessed .h5 of indy_mat."""
    path = tmp_path_factory.mktemp("indy_pre") / "indy_sim_01.h5"
    preprocess.preprocess_file(indy_mat, path, session="indy_sim_01", monkey="indy", expected_channels=96)
    return path


@pytest.fixture(scope="session")
def loco_h5(loco_mat, tmp_path_factory):
    """The preprocessed .h5 of loco_mat."""
    path = tmp_path_factory.mktemp("loco_pre") / "loco_sim_01.h5"
    preprocess.preprocess_file(loco_mat, path, session="loco_sim_01", monkey="loco", expected_channels=192)
    return path
