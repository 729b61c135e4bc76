"""Line structure of a stored document: offsets <-> line numbers, shared by every stage."""

from __future__ import annotations

from bisect import bisect_right
from functools import cached_property, lru_cache

# For pure functions of one line's text (or a header block's) that several stages ask of the same lines
# (the rules, the detector's features, extraction): each keeps its recent answers instead of scanning again.
line_memo = lru_cache(maxsize=1 << 16)


class LineIndex:
    """Start offsets of the lines of ``text`` (split on ``\\n`` only, as ingest normalised it)."""

    # Lines a detector's reading of the record set aside as page furniture (see ``with_furniture``).
    furniture: frozenset[int] = frozenset()

    def __init__(self, text: str) -> None:
        self.text = text
        starts = [0]
        find = text.find
        pos = find("\n")
        while pos >= 0:
            starts.append(pos + 1)
            pos = find("\n", pos + 1)
        if len(starts) > 1 and starts[-1] == len(text):
            starts.pop()  # a final newline does not open another line
        self.starts = starts

    def __len__(self) -> int:
        return len(self.starts)

    def line_of(self, offset: int) -> int:
        """0-based index of the line that holds ``offset``."""
        return max(0, bisect_right(self.starts, offset) - 1)

    def span(self, line: int) -> tuple[int, int]:
        """(start, end) of a line without its newline."""
        start = self.starts[line]
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
        if end > start and self.text[end - 1 : end] == "\n":
            end -= 1
        return start, end

    def line(self, line: int) -> str:
        start, end = self.span(line)
        return self.text[start:end]

    def with_furniture(self, furniture: frozenset[int]) -> LineIndex:
        """The same lines, with ``furniture`` (line numbers) known to be page headers and footers: found
        by their recurrence in this record, whatever they say, so that extraction passes over them too."""
        other = object.__new__(LineIndex)
        other.__dict__.update(self.__dict__)
        other.furniture = frozenset(furniture)
        return other

    @cached_property
    def lines(self) -> list[str]:
        return [self.line(i) for i in range(len(self.starts))]
