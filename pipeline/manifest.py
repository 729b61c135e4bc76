"""The manifest: the declared, content-hashed inputs of a run, and the only door to them.

``collect_inputs`` turns the user's paths, folders and globs into ``ManifestInput`` rows (or a
``ManifestError`` per problem, so one bad path never hides the others); ``build_manifest`` makes the
content-addressed ``Manifest``; ``ManifestWorkspace`` is what the rest of the pipeline reads through:
it refuses any record the manifest does not list and re-checks the sha256 of every read.
"""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from schemas import Manifest, ManifestInput

from pipeline.errors import InputError, ManifestError, WorkspaceError

# Suffixes taken when walking a folder or a glob; a file named explicitly is taken whatever its suffix.
RECORD_MEDIA_TYPES = {".txt": "text/plain", ".text": "text/plain", ".pdf": "application/pdf"}
_GLOB_CHARS = set("*?[")


@dataclass
class CollectedInputs:
    """Inputs found for a set of user paths, with every input that could not be declared. A path that
    does not exist, or holds no record, is not a bad input: it is named in ``missing`` or ``empty``
    (a scheduled run over an empty inbox has nothing to do; the command line calls it a usage error)."""

    inputs: list[ManifestInput] = field(default_factory=list)
    problems: list[ManifestError] = field(default_factory=list)
    ignored_files: int = 0
    missing: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)


def media_type_for(path: Path) -> str:
    return RECORD_MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")


def file_sha256(path: Path) -> tuple[str, int]:
    """sha256 hex and size of a file, read in blocks so multi-MB records stay cheap."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def path_from_uri(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise WorkspaceError(f"unsupported input URI scheme {parsed.scheme!r}")
    return Path(unquote(parsed.path))


def _declare(path: Path, record: str) -> ManifestInput:
    try:
        sha256, size = file_sha256(path)
    except OSError as exc:
        raise ManifestError(record, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    return ManifestInput(
        uri=path.resolve().as_uri(), record=record, size=size, sha256=sha256, media_type=media_type_for(path)
    )


def _glob_root(pattern: str) -> Path:
    """The longest leading folder of a glob pattern that holds no glob characters."""
    parts = Path(pattern).parts
    fixed: list[str] = []
    for part in parts:
        if _GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def missing_paths(args: list[str]) -> list[str]:
    """The arguments that name no file or folder (a glob pattern is never missing: it may match nothing)."""
    return [arg for arg in args if not _GLOB_CHARS & set(arg) and not (Path(arg).exists() or Path(arg).is_symlink())]


def _candidates(arg: str) -> tuple[Path, list[Path], bool]:
    """(root, files, explicit) for one user argument; explicit files keep any suffix."""
    if _GLOB_CHARS & set(arg):
        root = _glob_root(arg)
        return root, sorted(Path(p) for p in glob.glob(arg, recursive=True) if Path(p).is_file()), False
    path = Path(arg)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(path).parts))
        return path, files, False
    if path.is_file():
        return path.parent, [path], True
    if path.exists() or path.is_symlink():
        raise ManifestError(arg, "is not a regular file or folder")
    raise FileNotFoundError(arg)


def collect_inputs(paths: list[str]) -> CollectedInputs:
    """Declares every record under ``paths``; problems are collected, not raised."""
    collected = CollectedInputs()
    seen_files: set[Path] = set()
    seen_records: dict[str, Path] = {}
    for arg in paths:
        try:
            root, files, explicit = _candidates(arg)
        except ManifestError as exc:
            collected.problems.append(exc)
            continue
        except FileNotFoundError:
            collected.missing.append(arg)
            continue
        taken = 0
        problems_before = len(collected.problems)
        for path in files:
            if not explicit and path.suffix.lower() not in RECORD_MEDIA_TYPES:
                collected.ignored_files += 1
                continue
            real = path.resolve()
            if real in seen_files:
                taken += 1
                continue
            record = path.relative_to(root).as_posix() if root != Path(".") else path.as_posix()
            if record in seen_records:
                collected.problems.append(
                    ManifestError(str(path), f"record path {record!r} is already taken by another input; rename one")
                )
                continue
            try:
                collected.inputs.append(_declare(path, record))
            except ManifestError as exc:
                collected.problems.append(exc)
                continue
            seen_files.add(real)
            seen_records[record] = path
            taken += 1
        if not taken and len(collected.problems) == problems_before:
            collected.empty.append(arg)
    return collected


def build_manifest(inputs: list[ManifestInput], output_dir: Path, pipeline_version: str, detector: dict) -> Manifest:
    ordered = tuple(sorted(inputs, key=lambda i: i.record))
    out = str(output_dir.resolve())
    manifest_id = Manifest.compute_id(ordered, out, pipeline_version, detector)
    return Manifest(manifest_id=manifest_id, inputs=ordered, output_dir=out, pipeline_version=pipeline_version, detector=detector)


class ManifestWorkspace:
    """Read access to exactly the inputs a manifest declares, verified against their hashes."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self._inputs = {i.record: i for i in manifest.inputs}

    def records(self) -> list[str]:
        return list(self._inputs)

    def input(self, record: str) -> ManifestInput:
        if not isinstance(record, str) or record not in self._inputs:
            raise WorkspaceError("refused: the path is not declared in the manifest")
        return self._inputs[record]

    def read_bytes(self, record: str) -> bytes:
        declared = self.input(record)
        path = path_from_uri(declared.uri)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(record, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
        if hashlib.sha256(data).hexdigest() != declared.sha256:
            raise InputError(record, "changed since the manifest was built (sha256 differs); run again to declare it anew")
        return data


@dataclass(frozen=True)
class InputCheck:
    record: str
    status: str  # "ok" | "changed" | "missing"
    detail: str = ""


def verify_manifest(manifest: Manifest) -> list[InputCheck]:
    """Re-hashes every declared input and names each one that changed or disappeared."""
    checks = []
    for declared in manifest.inputs:
        path = path_from_uri(declared.uri)
        if not path.is_file():
            checks.append(InputCheck(declared.record, "missing", f"{path} no longer exists"))
            continue
        sha256, size = file_sha256(path)
        if sha256 != declared.sha256:
            checks.append(
                InputCheck(declared.record, "changed", f"sha256 {declared.sha256[:12]}… -> {sha256[:12]}…, size {declared.size} -> {size}")
            )
        else:
            checks.append(InputCheck(declared.record, "ok"))
    return checks

