"""How much of a read to parse when pipelined requests pile up.

A client may pipeline: send requests without waiting for the answers. One read
can then hold thousands of small requests, and llhttp cannot be stopped half
way through the bytes it is fed: every head in them becomes a request at once.
So the connection feeds the reader only as many request heads as its queue
has room for (``Config.max_pipeline_depth``) and holds the rest back, unparsed,
with reading paused, until answers make room (``connection.py``).

Every request head ends with an empty line (CRLF CRLF), and no head holds one
before its end: cutting after the n-th empty line leaves at most n heads.
Counting them is one pass in C (``bytes.count``), and a read of at most 4n
bytes needs no counting at all; an empty line inside a body only cuts
earlier, which is safe (the rest is parsed later, in order).
"""

from __future__ import annotations

EMPTY_LINE = b"\r\n\r\n"


def split_after_heads(data: bytes, heads: int) -> tuple[bytes, bytes]:
    """``data`` cut after its first ``heads`` empty lines: (parse now, hold back)."""
    end = 0
    for _ in range(heads):
        end = data.index(EMPTY_LINE, end) + len(EMPTY_LINE)
    return data[:end], data[end:]
