"""fetch of released checkpoints: manifest, git blob SHA-1 / sha256 verification, resume, LFS pointers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fileserver import file_server

from rsnn_decoding.errors import UserError
from rsnn_decoding.evaluation.released_fetch import (
    fetch_from_manifest,
    git_blob_sha1,
    manifest_entry,
    read_manifest,
    released_sessions,
)

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "resources" / "published" / "manifest.tsv"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "published"
FOLDERS = {"indy01": "indy_20160622_01", "loco01": "loco_20170210_03"}
CHALLENGE = ["indy_20160622_01", "indy_20160630_01", "indy_20170131_02",
             "loco_20170210_03", "loco_20170215_02", "loco_20170301_05"]


def test_manifest_lists_60_checkpoints():
    rows = read_manifest(MANIFEST)
    assert len(rows) == 60
    for model in ("tinyRSNN", "bigRSNN"):
        assert released_sessions(rows, model) == CHALLENGE
        assert sorted({r["seed"] for r in rows if r["model"] == model}) == [1, 2, 3, 4, 5]
    assert sum(r["sha256"] is not None for r in rows) == 30  # known for the tinyRSNN files only
    assert all(r["sha256"] is None for r in rows if r["model"] == "bigRSNN")


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_fixtures_are_the_released_files(folder):
    rows = read_manifest(MANIFEST)
    for seed in range(1, 6):
        path = FIXTURES / folder / f"tinyRSNN-{seed}.pth"
        entry = manifest_entry(rows, "tinyRSNN", FOLDERS[folder], seed)
        assert entry["path"] == f"models/{folder}/tinyRSNN-{seed}.pth"
        # independent oracle: git's own blob id
        oracle = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True,
                                check=True).stdout.strip()
        assert git_blob_sha1(path) == oracle == entry["git_blob_sha1"]
        assert entry["size"] == path.stat().st_size


def test_unknown_checkpoint_names_the_released_sessions():
    with pytest.raises(UserError, match="indy_20160622_01, indy_20160630_01.*loco_20170301_05"):
        manifest_entry(read_manifest(MANIFEST), "tinyRSNN", "indy_20160624_03", 1)


def _served(folder: str = "indy01", seed: int = 1) -> tuple[bytes, dict[str, bytes]]:
    body = (FIXTURES / folder / f"tinyRSNN-{seed}.pth").read_bytes()
    return body, {f"/models/{folder}/tinyRSNN-{seed}.pth": body}


def _fetch(srv, dest, model="tinyRSNN", session="indy_20160622_01", seed=1, manifest=MANIFEST):
    return fetch_from_manifest(manifest, srv.url, model, session, seed, dest, retries=3, backoff_s=0.01,
                               timeout_s=10)


def test_fetch_verifies_and_renames(tmp_path):
    body, files = _served()
    with file_server(files) as srv:
        dest = _fetch(srv, tmp_path / "tinyRSNN" / "indy_20160622_01" / "seed1.pth")
    assert dest.read_bytes() == body
    assert [p.name for p in dest.parent.iterdir()] == ["seed1.pth"]


def test_resumed_download_after_dropped_connection_verifies(tmp_path):
    body, files = _served("loco01", 4)
    with file_server(files) as srv:
        srv.drops_left = 2
        dest = _fetch(srv, tmp_path / "seed4.pth", session="loco_20170210_03", seed=4)
        ranges = [r for _, r in srv.requests]
    assert dest.read_bytes() == body
    first = len(body) // 3
    assert ranges == [None, f"bytes={first}-", f"bytes={first + (len(body) - first) // 3}-"]


def _manifest_without_sha256(tmp_path: Path) -> Path:
    """The manifest with the sha256 column emptied (so only the git blob SHA-1 is checked)."""
    lines = MANIFEST.read_text().splitlines()
    out = [lines[0]] + ["\t".join(line.split("\t")[:6] + [""]) for line in lines[1:]]
    path = tmp_path / "manifest.tsv"
    path.write_text("\n".join(out) + "\n")
    return path


@pytest.mark.parametrize("with_sha256", [True, False])
def test_one_byte_change_is_caught_and_deleted(tmp_path, with_sha256):
    body, files = _served()
    bad = bytearray(body)
    bad[len(bad) // 2] ^= 0x01
    key = next(iter(files))
    files[key] = bytes(bad)
    manifest = MANIFEST if with_sha256 else _manifest_without_sha256(tmp_path)
    expected = manifest_entry(read_manifest(MANIFEST), "tinyRSNN", "indy_20160622_01", 1)["git_blob_sha1"]
    (tmp_path / "got.pth").write_bytes(bytes(bad))
    got = git_blob_sha1(tmp_path / "got.pth")
    dest = tmp_path / "out" / "seed1.pth"
    with file_server(files) as srv, pytest.raises(UserError) as info:
        _fetch(srv, dest, manifest=manifest)
    msg = str(info.value)
    assert "\n" not in msg and "git blob SHA-1 mismatch" in msg and expected in msg and got in msg
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []


def test_sha256_mismatch_names_both_digests(tmp_path):
    body, files = _served()
    lines = MANIFEST.read_text().splitlines()
    wrong = "0" * 64
    fixed = [lines[0]] + [
        "\t".join(line.split("\t")[:6] + [wrong]) if line.startswith("models/indy01/tinyRSNN-1.pth") else line
        for line in lines[1:]
    ]
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text("\n".join(fixed) + "\n")
    import hashlib

    dest = tmp_path / "seed1.pth"
    with file_server(files) as srv, pytest.raises(UserError) as info:
        _fetch(srv, dest, manifest=manifest)
    assert "sha256 mismatch" in str(info.value) and wrong in str(info.value)
    assert hashlib.sha256(body).hexdigest() in str(info.value)
    assert not dest.exists() and not dest.with_name("seed1.pth.part").exists()


def test_git_lfs_pointer_is_refused_in_one_line(tmp_path):
    pointer = (b"version https://git-lfs.github.com/spec/v1\n"
               b"oid sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\nsize 25573\n")
    _, files = _served()
    files[next(iter(files))] = pointer
    dest = tmp_path / "seed1.pth"
    with file_server(files) as srv, pytest.raises(UserError) as info:
        _fetch(srv, dest)
    assert "\n" not in str(info.value) and "Git LFS pointer" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_missing_manifest_names_the_file(tmp_path):
    with pytest.raises(UserError, match="nothing.tsv"):
        read_manifest(tmp_path / "nothing.tsv")
