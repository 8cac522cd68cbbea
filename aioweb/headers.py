"""Request headers as a handler reads them: case-insensitive, ordered, duplicates kept.

The parser hands over the raw ``(name, value)`` byte pairs in the order they
came; this class decodes them only when asked, because most handlers look at
few headers or none, and decoding every one of them on every request is work
the hot path need not do.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping


class Headers(Mapping[str, str]):
    """A read-only view of header pairs.

    ``headers["content-type"]`` gives the first value of that name (any case);
    ``headers.getall("set-cookie")`` gives every value; iterating gives the
    names in order, one per occurrence folded into the mapping's keys.
    Values are decoded as ISO-8859-1, as RFC 9110 §5.5 allows for field octets.
    """

    __slots__ = ("raw", "_index")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw
        self._index: dict[str, list[str]] | None = None

    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = {}
            for name, value in self.raw:
                index.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
            self._index = index
        return index

    def __getitem__(self, name: str) -> str:
        return self._lookup()[name.lower()][0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup())

    def __len__(self) -> int:
        return len(self._lookup())

    def getall(self, name: str) -> list[str]:
        """Every value of ``name`` in arrival order (empty if absent)."""
        return list(self._lookup().get(name.lower(), ()))

    def pairs(self) -> list[tuple[str, str]]:
        """All headers as decoded ``(name, value)`` pairs, as the client sent them."""
        return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in self.raw]

    def __repr__(self) -> str:
        return f"Headers({self.pairs()!r})"
