from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.errors import InputError, WorkspaceError
from pipeline.manifest import ManifestWorkspace, build_manifest, collect_inputs, verify_manifest
from schemas import Manifest, ManifestInput

DETECTOR = {"name": "rules", "version": "1"}


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "a.txt").write_text("Visit A\n")
    (tmp_path / "in" / "sub" / "b.txt").write_text("Visit B\n")
    (tmp_path / "in" / "notes.md").write_text("not a record\n")
    (tmp_path / "empty").mkdir()
    return tmp_path


def test_folders_files_and_globs_become_relative_records(tree: Path) -> None:
    found = collect_inputs([str(tree / "in"), str(tree / "in" / "notes.md"), str(tree / "in" / "**" / "b.txt")])
    records = sorted(i.record for i in found.inputs)
    assert records == ["a.txt", "notes.md", "sub/b.txt"]
    assert found.ignored_files == 1  # notes.md inside the folder walk (taken when named explicitly)
    assert found.problems == []
    b = next(i for i in found.inputs if i.record == "sub/b.txt")
    assert b.size == 8 and b.media_type == "text/plain" and b.uri.startswith("file:///")


def test_missing_path_empty_folder_and_empty_glob_are_named_not_quarantined(tree: Path) -> None:
    found = collect_inputs([str(tree / "nope.txt"), str(tree / "empty"), str(tree / "*.zzz"), str(tree / "in" / "a.txt")])
    assert found.problems == []  # nothing to do is not a bad input
    assert found.missing == [str(tree / "nope.txt")]
    assert found.empty == [str(tree / "empty"), str(tree / "*.zzz")]
    assert [i.record for i in found.inputs] == ["a.txt"]


def test_manifest_id_is_the_hash_of_its_content(tree: Path) -> None:
    inputs = collect_inputs([str(tree / "in")]).inputs
    first = build_manifest(inputs, tree / "out", "0.1", DETECTOR)
    again = build_manifest(list(reversed(inputs)), tree / "out", "0.1", DETECTOR)
    assert first.manifest_id == again.manifest_id
    (tree / "in" / "a.txt").write_text("Visit A changed\n")
    changed = build_manifest(collect_inputs([str(tree / "in")]).inputs, tree / "out", "0.1", DETECTOR)
    assert changed.manifest_id != first.manifest_id
    other_config = build_manifest(inputs, tree / "out", "0.1", {"name": "rules", "version": "2"})
    assert other_config.manifest_id != first.manifest_id
    with pytest.raises(ValidationError, match="not the hash"):
        Manifest(**{**first.model_dump(), "manifest_id": "0" * 64})


def test_workspace_refuses_undeclared_paths_and_changed_bytes(tree: Path) -> None:
    manifest = build_manifest(collect_inputs([str(tree / "in")]).inputs, tree / "out", "0.1", DETECTOR)
    workspace = ManifestWorkspace(manifest)
    assert workspace.read_bytes("a.txt") == b"Visit A\n"
    for path in ("notes.md", "../in/a.txt", str(tree / "in" / "a.txt"), "sub/../a.txt"):
        with pytest.raises(WorkspaceError, match="not declared in the manifest"):
            workspace.read_bytes(path)
    (tree / "in" / "a.txt").write_bytes(b"Visit A\x00")
    with pytest.raises(InputError, match="changed since the manifest was built"):
        workspace.read_bytes("a.txt")


def test_verify_names_changed_and_missing_inputs(tree: Path) -> None:
    manifest = build_manifest(collect_inputs([str(tree / "in")]).inputs, tree / "out", "0.1", DETECTOR)
    assert {c.status for c in verify_manifest(manifest)} == {"ok"}
    data = bytearray((tree / "in" / "a.txt").read_bytes())
    data[0] ^= 1  # one changed bit
    (tree / "in" / "a.txt").write_bytes(bytes(data))
    (tree / "in" / "sub" / "b.txt").unlink()
    checks = {c.record: c.status for c in verify_manifest(manifest)}
    assert checks == {"a.txt": "changed", "sub/b.txt": "missing"}


@pytest.mark.parametrize("record", ["../etc/passwd", "/etc/passwd", "a/../../b.txt", ""])
def test_manifest_rejects_unsafe_record_paths(record: str) -> None:
    with pytest.raises(ValidationError, match="relative and must not contain"):
        ManifestInput(uri="file:///x", record=record, size=1, sha256="0" * 64, media_type="text/plain")
