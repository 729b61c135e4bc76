"""The rules detector's boundaries, offered to the model as hints it confirms, moves, adds or removes.

Each hint is one short line: its 1-based line, the rules score and cues, and a line or two of the
text there, so a page of hints costs a small fraction of the record. Hints are split into pages of a
bounded size; the first page goes with the first prompt and the rest are shown on request.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.detect.base import EncounterBoundary
from pipeline.text import LineIndex

CONTEXT_CHARS = 72
SECOND_LINE_BELOW = 32  # a first line shorter than this gets the next non-blank line too


@dataclass(frozen=True)
class Hint:
    line: int  # 1-based
    score: float
    cues: tuple[str, ...]
    context: str

    def render(self) -> str:
        return f"L{self.line} s={self.score:.1f} {','.join(self.cues)} | {self.context}"


def _clip(line: str) -> str:
    line = " ".join(line.split())
    return line if len(line) <= CONTEXT_CHARS else line[: CONTEXT_CHARS - 1] + "…"


def make_hints(boundaries: list[EncounterBoundary], lines: LineIndex) -> tuple[Hint, ...]:
    hints = []
    for b in boundaries:
        context = _clip(lines.line(b.line))
        if len(context) < SECOND_LINE_BELOW:
            following = next((lines.line(i) for i in range(b.line + 1, min(b.line + 4, len(lines))) if lines.line(i).strip()), "")
            context = f"{context} / {_clip(following)}" if following else context
        hints.append(Hint(b.line + 1, b.score, b.cues, context))
    return tuple(hints)


def paginate(hints: tuple[Hint, ...], page_chars: int) -> tuple[str, ...]:
    """Pages of rendered hints, each at most ``page_chars`` long (one hint always fits)."""
    pages: list[list[str]] = [[]]
    size = 0
    for hint in hints:
        row = hint.render()
        if pages[-1] and size + len(row) + 1 > page_chars:
            pages.append([])
            size = 0
        pages[-1].append(row)
        size += len(row) + 1
    return tuple("\n".join(rows) for rows in pages)
