"""One exception hierarchy, so callers catch ``ChartsiftError`` and read a message that names the
file and the reason. Messages never carry patient text: only paths, hashes, offsets and counts."""

from __future__ import annotations


class ChartsiftError(Exception):
    """Base of every error chartsift raises on purpose."""


class UsageError(ChartsiftError):
    """The command was called wrongly (exit status 2)."""


class InputError(ChartsiftError):
    """One input cannot be processed; the batch goes on and the input is quarantined."""

    stage = "ingest"

    def __init__(self, record: str, reason: str) -> None:
        super().__init__(f"{record}: {reason}")
        self.record = record
        self.reason = reason


class ManifestError(InputError):
    """An input cannot be declared in the manifest (missing, unreadable, unsafe path)."""

    stage = "manifest"


class WorkspaceError(ChartsiftError):
    """A read outside the manifest, or of an input whose bytes changed since it was declared."""


class StageError(ChartsiftError):
    """An unexpected failure inside one stage of one record; carries no patient text."""

    def __init__(self, record: str, stage: str, cause: BaseException) -> None:
        super().__init__(f"{record}: unexpected {type(cause).__name__} during {stage}")
        self.record = record
        self.stage = stage
        self.error_class = type(cause).__name__


class DetectionError(InputError):
    stage = "detect"


class CatalogError(ChartsiftError):
    """The output catalog is missing, locked or unusable."""
