"""Property tests of the sans-IO request reader: any bytes, cut anywhere.

For any byte sequence, fed in any split, ``RequestReader.receive`` must:

* never raise;
* return a well-formed event stream — ``RequestHead``, ``BodyData``*,
  ``END_OF_REQUEST``, again and again — possibly ended by exactly one
  ``Rejection`` with a status the server documents, after which it returns
  nothing more;
* hand over only checked heads (HTTP/1.0 or 1.1, token names, values free
  of CR/LF/NUL, one Host in 1.1, never Content-Length with Transfer-Encoding,
  at most the configured number of headers and URL bytes) and never more
  body than was fed nor more than ``max_body_size`` per request;
* give the same answer however the bytes were cut (a server reads whatever
  the kernel hands it);
* hold a bounded amount of state between calls: its header list never
  longer than ``max_header_count + 1``, its URL pieces never over
  ``max_url_size``, and a head already over ``max_head_size`` refused at once.

Inputs: raw random bytes, sequences of HTTP-ish tokens, and valid requests
mutated (bytes inserted, deleted, flipped, replaced, duplicated), each under
the default Config and under a tiny one whose limits short inputs can reach.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from aioweb import Config
from aioweb.http11.events import BodyData, EndOfRequest, Event, Rejection, RequestHead
from aioweb.http11.reader import RequestReader

# Every status the reader may refuse with (RFC 9110 §15): see test_bad_input.py.
REFUSALS = {400, 405, 408, 413, 414, 417, 431, 501, 505}
TINY = Config(max_url_size=32, max_head_size=160, max_header_count=4, max_body_size=24)
CONFIGS = {"default": Config(), "tiny": TINY}
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

VALID = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /p?q=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;e=1\r\nhello\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n",
    b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
]
TOKENS = [b"GET", b"POST", b" ", b"/", b"/x", b"?", b"HTTP/1.1", b"HTTP/1.0", b"\r\n", b"\r",
          b"\n", b"Host: a", b"Content-Length: ", b"Transfer-Encoding: chunked", b"0", b"5",
          b"ff", b"hello", b":", b",", b";", b"\t", b"\x00", b"Connection: close", b"a" * 40]
INTERESTING = b"\r\n\x00 \t:;,0159afxX-_\x0b\x7f\xff"


@st.composite
def mutated_request(draw: st.DrawFn) -> bytes:
    """A valid request (or two) with a few bytes inserted, deleted, flipped, replaced or copied."""
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 5))):
        operation = draw(st.sampled_from(["insert", "delete", "flip", "replace", "duplicate"]))
        position = draw(st.integers(0, len(data)))
        if operation == "insert":
            data[position:position] = draw(st.sampled_from(list(INTERESTING))).to_bytes(1, "big")
        elif operation == "delete":
            del data[position:position + draw(st.integers(1, 4))]
        elif operation == "flip" and position < len(data):
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif operation == "replace" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif operation == "duplicate":
            end = min(len(data), position + draw(st.integers(1, 40)))
            data[position:position] = data[position:end] * draw(st.integers(1, 30))
    return bytes(data)


ANY_INPUT = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from(TOKENS), max_size=40).map(b"".join),
    mutated_request(),
)


@st.composite
def header_flood(draw: st.DrawFn) -> bytes:
    """A head of many one-byte header lines, finished or not."""
    count = draw(st.integers(0, 150))
    ending = b"\r\n" if draw(st.booleans()) else b""
    return b"GET / HTTP/1.1\r\nHost: a\r\n" + b"a:b\r\n" * count + ending


HEADER_FLOOD = header_flood()
INPUTS = st.one_of(ANY_INPUT, HEADER_FLOOD)


@st.composite
def cut(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut at a few random places (no empty piece: a read is never empty)."""
    points = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def feed(config: Config, pieces: list[bytes]) -> list[Event]:
    """Feed the pieces; check the calls after a rejection (or the close) return nothing."""
    reader = RequestReader(config)
    events: list[Event] = []
    for piece in pieces:
        got = reader.receive(piece)
        if events and isinstance(events[-1], Rejection):
            assert not got, f"events after a rejection: {got}"
        events += got
    return events


def check_head(head: RequestHead, config: Config) -> None:
    """A head the reader hands over has passed every check."""
    assert head.method and _TOKEN.fullmatch(head.method.encode()), head.method
    assert head.http_version in ("1.0", "1.1"), head.http_version
    assert 0 < len(head.target) <= config.max_url_size
    assert re.search(rb"[\x00-\x20\x7f]", head.target) is None, head.target
    assert len(head.raw_headers) <= config.max_header_count
    names = [name.lower() for name, _ in head.raw_headers]
    for name, value in head.raw_headers:
        assert _TOKEN.fullmatch(name), name
        assert re.search(rb"[\r\n\x00]", value) is None, value
    if head.http_version == "1.1":
        assert names.count(b"host") == 1
    assert names.count(b"content-length") <= 1
    assert not (b"content-length" in names and b"transfer-encoding" in names)


def check_stream(events: list[Event], fed: int, config: Config) -> None:
    """Heads, bodies, ends in order; at most one Rejection, last; body bounded."""
    expecting_head = True
    has_body = False
    body_in_request = body_total = 0
    for index, event in enumerate(events):
        if isinstance(event, Rejection):
            assert index == len(events) - 1, f"a rejection before other events: {events}"
            assert event.status in REFUSALS, event
        elif isinstance(event, RequestHead):
            assert expecting_head, f"a head inside a request: {events}"
            check_head(event, config)
            expecting_head, has_body, body_in_request = False, event.has_body, 0
        elif isinstance(event, BodyData):
            assert not expecting_head and has_body, f"body outside a request: {events}"
            assert event.data, "an empty body piece"
            body_in_request += len(event.data)
            body_total += len(event.data)
            assert body_in_request <= config.max_body_size
        else:
            assert isinstance(event, EndOfRequest), event
            assert not expecting_head, f"an end without a head: {events}"
            expecting_head = True
    assert body_total <= fed


def normalise(events: list[Event]) -> list[tuple[object, ...]]:
    """Comparable events: consecutive body pieces merged, rejections by status."""
    out: list[tuple[object, ...]] = []
    for event in events:
        if isinstance(event, BodyData):
            if out and out[-1][0] == "body":
                out[-1] = ("body", bytes(out[-1][1]) + event.data)  # type: ignore[arg-type]
            else:
                out.append(("body", event.data))
        elif isinstance(event, RequestHead):
            out.append(("head", event.method, event.target, event.http_version,
                        tuple(event.raw_headers), event.keep_alive, event.has_body))
        elif isinstance(event, Rejection):
            out.append(("reject", event.status))
        else:
            out.append(("end",))
    return out


FUZZ = settings(max_examples=250, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=st.data(), config_name=st.sampled_from(sorted(CONFIGS)))
def test_any_bytes_any_split_give_a_well_formed_event_stream(data: st.DataObject,
                                                             config_name: str) -> None:
    """Never an exception; heads, bodies and ends in order, or one final Rejection."""
    config = CONFIGS[config_name]
    raw = data.draw(INPUTS, label="input")
    pieces = data.draw(cut(raw), label="pieces")
    check_stream(feed(config, pieces), len(raw), config)


@settings(FUZZ, phases=[Phase.explicit, Phase.generate])  # shrinking here costs 15 s
@given(raw=INPUTS, points=st.lists(st.integers(0, 4000), max_size=12),
       config_name=st.sampled_from(sorted(CONFIGS)))
@example(raw=b"GET / HTTP/1.1\r\nHost: a\r\n" + b"a:b\r\n" * 40, points=[20], config_name="tiny")
def test_the_split_never_changes_the_answer(raw: bytes, points: list[int],
                                            config_name: str) -> None:
    """The same bytes cut differently give the same events (body pieces merged).

    The explicit example: an unfinished 225-byte head under a 160-byte
    ``max_head_size``, in one read and in two.
    """
    config = CONFIGS[config_name]
    bounds = [0, *sorted(p for p in points if p < len(raw)), len(raw)]
    pieces = [raw[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]
    assert normalise(feed(config, pieces)) == normalise(feed(config, [raw]))


def _buffered(reader: RequestReader) -> tuple[int, int]:
    """(header pairs, URL bytes) the reader holds for the request it is reading."""
    headers = getattr(reader, "_headers", [])
    url_parts = getattr(reader, "_url_parts", [])
    return len(headers), sum(len(part) for part in url_parts)


@FUZZ
@given(data=st.data(), config_name=st.sampled_from(sorted(CONFIGS)))
def test_the_reader_never_buffers_more_than_its_limits(data: st.DataObject,
                                                       config_name: str) -> None:
    """Between any two calls, the reader holds at most ``max_header_count + 1``
    header pairs and ``max_url_size`` URL bytes, whatever it was fed."""
    config = CONFIGS[config_name]
    raw = data.draw(INPUTS, label="input")
    reader = RequestReader(config)
    for piece in data.draw(cut(raw), label="pieces"):
        reader.receive(piece)
        header_count, url_bytes = _buffered(reader)
        assert header_count <= config.max_header_count + 1, header_count
        assert url_bytes <= config.max_url_size, url_bytes


def test_a_head_already_over_the_limit_is_refused_at_once() -> None:
    """250 kB of header lines in one read: already four times ``max_head_size``
    (64 KiB), so the answer is 431 now, not after the next read."""
    reader = RequestReader(Config())
    events = reader.receive(b"GET / HTTP/1.1\r\n" + b"a:b\r\n" * 50_000)
    assert [(type(e), getattr(e, "status", None)) for e in events] == [(Rejection, 431)]


def test_header_lines_are_counted_as_they_arrive() -> None:
    """13,000 one-byte header lines (64 kB, within the size limit) fed in 1 kB reads:
    the reader refuses at the 101st header, holding at most 101 pairs, instead
    of keeping 13,000 until the head ends."""
    reader = RequestReader(Config())
    reader.receive(b"GET / HTTP/1.1\r\nHost: a\r\n")
    most = 0
    events: list[Event] = []
    for _ in range(64):
        events += reader.receive(b"a:b\r\n" * 200)
        most = max(most, _buffered(reader)[0])
    assert [getattr(e, "status", None) for e in events] == [431]
    assert most <= Config().max_header_count + 1, f"held {most} header pairs"
