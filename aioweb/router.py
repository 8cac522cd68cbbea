"""Routing: pick a handler by method and path, and send the rest to a fallback.

Where it sits in a request's life: the container calls one handler per
request; a :class:`Router` *is* that handler, and it only chooses. It looks
the request up, in this order:

1. static routes (``/health``) — one dict lookup;
2. routes with parameters (``/items/{id}``, ``/files/{rest:path}``), in the
   order they were added;
3. mounts (``router.mount("/v1", other)``), longest prefix first;
4. the fallback — typically a whole ASGI app in an
   :class:`aioweb.asgi.AsgiHandler` — for everything else, including a known
   path with a method no route takes (so ``GET /items`` can be native while
   ``POST /items`` still goes to the app).

That is how an application moves to native handlers one route at a time: the
hot route gets a native handler, the app keeps the rest, and clients see no
change.

Path parameters reach the handler through :func:`request_params`, and the
prefix a request was mounted under through :func:`mount_prefix` (an ASGI
fallback uses it as its ``root_path`` while keeping the full ``path``, as the
ASGI spec and Starlette's ``Mount`` do). Both live in a context variable: the
container runs each request in its own copy of the context, so nothing leaks
between requests, and the request objects stay untouched.

Eagerness: the router runs eagerly, so a native route keeps the container's
fast path (no Task when it does not wait). A route whose handler needs a Task
(``runs_eagerly = False``, like every ASGI app on Python 3.11) gets one by
``await asyncio.sleep(0)``: the eager start sees the coroutine yield and hands
it to a new Task, which resumes it on the next loop iteration. That costs
what the container's own non-eager path costs (one Task, one loop turn);
awaiting ``create_task(...)`` instead would cost two Tasks.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from aioweb.contract import Handler, HandlerFunction, Request, Response, ResponseLike
from aioweb.errors import HttpError

AnyHandler = Handler | HandlerFunction

_NO_PARAMS: Mapping[str, str] = MappingProxyType({})
# {name} matches one path segment; {name:path} matches the rest of the path.
_PARAMETER = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::(path|str))?}")


@dataclasses.dataclass(frozen=True, slots=True)
class _Routed:
    """What routing found out about one request."""

    request: Request
    params: Mapping[str, str]
    prefix: str  # the mount prefix, as it appears at the start of request.path


_ROUTED: contextvars.ContextVar[_Routed | None] = contextvars.ContextVar("aioweb_routed",
                                                                        default=None)


def request_params(request: Request) -> Mapping[str, str]:
    """The path parameters the router matched for ``request`` (``{"id": "42"}``)."""
    routed = _ROUTED.get()
    return routed.params if routed is not None and routed.request is request else _NO_PARAMS


def mount_prefix(request: Request) -> str:
    """The path prefix ``request`` was mounted under (``""`` when not mounted)."""
    routed = _ROUTED.get()
    return routed.prefix if routed is not None and routed.request is request else ""


@dataclasses.dataclass(frozen=True, slots=True)
class _Target:
    """A handler, ready to call: its coroutine function, and whether it needs a Task."""

    call: HandlerFunction
    needs_task: bool
    handler: AnyHandler

    @classmethod
    def of(cls, handler: AnyHandler) -> _Target:
        """Wrap a Handler or an ``async def handler(request)``."""
        if isinstance(handler, Handler):
            return cls(handler.handle, not handler.runs_eagerly, handler)
        return cls(handler, False, handler)


@dataclasses.dataclass(slots=True)
class _Pattern:
    """A path with parameters, compiled, and its handlers by method."""

    template: str
    regex: re.Pattern[str]
    methods: dict[str, _Target]


def _compile(template: str) -> re.Pattern[str]:
    parts, end = [], 0
    for match in _PARAMETER.finditer(template):
        parts.append(re.escape(template[end:match.start()]))
        pattern = ".*" if match.group(2) == "path" else "[^/]+"
        parts.append(f"(?P<{match.group(1)}>{pattern})")
        end = match.end()
    parts.append(re.escape(template[end:]))
    return re.compile("".join(parts))


class Router(Handler):
    """Native routes by method and path, mounts, and a fallback for the rest.

    ::

        router = Router(fallback=AsgiHandler(fastapi_app))

        @router.route("/items/{item_id}")
        async def item(request: Request) -> Response:
            return Response(f"item {request_params(request)['item_id']}")

    Without a fallback, an unknown path is a 404 and a known path with
    another method a 405 (with ``Allow``).
    """

    runs_eagerly = True

    def __init__(self, fallback: AnyHandler | None = None) -> None:
        self._static: dict[str, dict[str, _Target]] = {}
        self._patterns: list[_Pattern] = []
        self._mounts: list[tuple[str, _Target]] = []
        self._fallback = None if fallback is None else _Target.of(fallback)

    # --- building ---------------------------------------------------------

    def add(self, path: str, handler: AnyHandler, methods: Iterable[str] = ("GET",)) -> None:
        """Route ``methods`` on ``path`` (a template such as ``/items/{id}``) to ``handler``."""
        if not path.startswith("/"):
            raise ValueError(f"a route path starts with '/': {path!r}")
        target = _Target.of(handler)
        if _PARAMETER.search(path) is None:
            table = self._static.setdefault(path, {})
        else:
            pattern = next((p for p in self._patterns if p.template == path), None)
            if pattern is None:
                pattern = _Pattern(path, _compile(path), {})
                self._patterns.append(pattern)
            table = pattern.methods
        names = [method.upper() for method in methods]
        for method in names:
            if method in table and method != "HEAD":
                raise ValueError(f"{method} {path} is routed twice")
            table[method] = target  # an explicit HEAD route replaces GET's implicit one
        if "GET" in names and "HEAD" not in names:
            # The GET handler answers HEAD too; the container drops the body.
            table.setdefault("HEAD", target)

    def route(self, path: str, methods: Iterable[str] = ("GET",)
              ) -> Callable[[HandlerFunction], HandlerFunction]:
        """Decorator form of :meth:`add`."""
        def register(function: HandlerFunction) -> HandlerFunction:
            self.add(path, function, methods)
            return function
        return register

    def mount(self, prefix: str, handler: AnyHandler) -> None:
        """Send every path under ``prefix`` (``/v1`` → ``/v1``, ``/v1/...``) to ``handler``.

        The handler sees the full path; :func:`mount_prefix` tells it the
        prefix (a mounted Router matches below it, an ASGI app gets it as
        ``root_path``).
        """
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"a mount prefix starts with '/', and does not end with one: "
                             f"{prefix!r}")
        self._mounts.append((prefix, _Target.of(handler)))
        self._mounts.sort(key=lambda mount: len(mount[0]), reverse=True)

    def handlers(self) -> list[AnyHandler]:
        """Every handler this router may call (for tools that look for ASGI apps)."""
        targets = [t for methods in self._static.values() for t in methods.values()]
        targets += [t for pattern in self._patterns for t in pattern.methods.values()]
        targets += [target for _, target in self._mounts]
        if self._fallback is not None:
            targets.append(self._fallback)
        unique: dict[int, AnyHandler] = {id(t.handler): t.handler for t in targets}
        return list(unique.values())

    # --- routing ------------------------------------------------------------

    async def handle(self, request: Request) -> ResponseLike:
        routed = _ROUTED.get()
        path = request.path
        if routed is not None and routed.request is request and routed.prefix:
            path = path[len(routed.prefix):] or "/"
        method = request.method
        methods = self._static.get(path)
        if methods is not None:
            target = methods.get(method)
            if target is not None:
                if target.needs_task and asyncio.current_task() is None:
                    await asyncio.sleep(0)  # become a Task (see the module docstring)
                return await target.call(request)
        found = self._match(request, routed, path, method)
        if found is None:
            if self._fallback is None:
                return self._not_found(request, path)
            found = self._fallback
        if found.needs_task and asyncio.current_task() is None:
            await asyncio.sleep(0)
        return await found.call(request)

    def _match(self, request: Request, routed: _Routed | None, path: str,
               method: str) -> _Target | None:
        """The parameter route or mount for this path, with the context set for it."""
        outer = routed if routed is not None and routed.request is request else None
        for pattern in self._patterns:
            match = pattern.regex.fullmatch(path)
            if match is not None and method in pattern.methods:
                params = match.groupdict()
                if outer is not None and outer.params:
                    params = {**outer.params, **params}
                _ROUTED.set(_Routed(request, params, outer.prefix if outer else ""))
                return pattern.methods[method]
        for prefix, target in self._mounts:
            if path == prefix or path.startswith(prefix) and path[len(prefix)] == "/":
                outer_prefix = outer.prefix if outer is not None else ""
                _ROUTED.set(_Routed(request, outer.params if outer else _NO_PARAMS,
                                    outer_prefix + prefix))
                return target
        return None

    def _not_found(self, request: Request, path: str) -> Response:
        allowed = set(self._static.get(path, {}))
        for pattern in self._patterns:
            if pattern.regex.fullmatch(path) is not None:
                allowed.update(pattern.methods)
        if not allowed:
            raise HttpError(404)
        assert request.method not in allowed
        return Response("405 Method Not Allowed\n", 405, [("Allow", ", ".join(sorted(allowed)))])
