"""``aioweb.http11.pipelining``: where a read is cut when the pipeline queue is full
(bytes in, bytes out; the wire behaviour is in test_pipeline_property.py)."""

from __future__ import annotations

import pytest

from aioweb.config import Config
from aioweb.http11.events import RequestHead
from aioweb.http11.pipelining import split_after_heads
from aioweb.http11.reader import RequestReader

GET = b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.mark.parametrize("heads", [0, 1, 3, 5])
def test_the_first_part_holds_exactly_that_many_heads(heads: int) -> None:
    """Cut after n heads of five: the reader finds n requests in the first part, and
    the rest, parsed after it, gives the others in order."""
    data = b"".join(GET % i for i in range(5))
    now, later = split_after_heads(data, heads)
    assert now + later == data
    reader = RequestReader(Config())
    first = [e.target for e in reader.receive(now) if isinstance(e, RequestHead)]
    rest = [e.target for e in reader.receive(later) if isinstance(e, RequestHead)]
    assert first == [b"/%d" % i for i in range(heads)]
    assert first + rest == [b"/%d" % i for i in range(5)]


def test_an_empty_line_inside_a_body_only_cuts_earlier() -> None:
    """A body holding CRLF CRLF counts as a head's end: the cut comes sooner, never later,
    and the request whose body was cut is still read whole once the rest comes."""
    post = b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\na\r\n\r\nb"
    data = post + GET % 1
    now, later = split_after_heads(data, 2)
    assert now == post[:-1] and later == b"b" + GET % 1
    reader = RequestReader(Config())
    events = reader.receive(now) + reader.receive(later)
    assert [e.target for e in events if isinstance(e, RequestHead)] == [b"/p", b"/1"]
