"""How many values a JSON body holds and how deep it nests, counted on its bytes.

A parsed body costs far more than its size when it is all small values: a
megabyte of `[{},{},...]` becomes 350,000 dicts, about 30 MB. Counting before
parsing keeps what a body becomes within a small multiple of its size.
"""

import re
from collections.abc import Sequence
from itertools import accumulate

# A whole JSON string, escapes included; possessive, so it never backtracks.
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]")


class JsonShape:
    """Running counts over a body's chunks. They over-count (a comma inside
    a string counts too) until `problem()` counts exactly, which it does only
    when the running counts pass a bound: most bodies are never scanned."""

    def __init__(self, max_values: int, max_depth: int) -> None:
        self.max_values, self.max_depth = max_values, max_depth
        self.values = 1  # the top-level value
        self.containers = 0

    def add(self, chunk: bytes) -> None:
        containers = chunk.count(b"{") + chunk.count(b"[")
        self.containers += containers
        self.values += containers + chunk.count(b",")

    def problem(self, chunks: Sequence[bytes]) -> str | None:
        """What is wrong with the whole body, given as its chunks (None: within
        both bounds)."""
        if self.values <= self.max_values and self.containers <= self.max_depth:
            return None  # the over-counts are within the bounds: so are the counts
        structure = _STRING.sub(b"", b"".join(chunks))
        containers = structure.count(b"{") + structure.count(b"[")
        values = 1 + containers + structure.count(b",")
        if values > self.max_values:
            return f"JSON body holds more than {self.max_values} values"
        if containers > self.max_depth and _depth(structure) > self.max_depth:
            return f"JSON body nests deeper than {self.max_depth} levels"
        return None


def _depth(structure: bytes) -> int:
    """The deepest nesting of brackets (strings already removed); the brackets
    are at most max_values here, so this loop is short."""
    brackets = _NOT_BRACKET.sub(b"", structure)
    return max(accumulate(1 if byte in b"[{" else -1 for byte in brackets), default=0)
