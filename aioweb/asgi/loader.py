"""From ``module:attribute`` to an application, and what kind of application it is.

Before a request's life begins, the CLI must find the app (``aioweb
main:app`` imports ``main`` and takes its ``app``) and decide how to call it.
Two shapes are served:

* **native** — an :class:`aioweb.contract.Handler` (a :class:`aioweb.router.Router`,
  say), or ``async def handler(request)``: one argument;
* **ASGI 3** — ``async def app(scope, receive, send)`` or an object whose
  ``__call__`` takes those three (Starlette, FastAPI, Django's ``get_asgi_application()``).

``--interface auto`` tells them apart by the call signature. A native handler
may hold ASGI apps (a Router whose fallback is an AsgiHandler);
:func:`asgi_handlers_in` finds them, so the CLI runs their lifespans too.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterator
from typing import Literal

from aioweb.asgi.handler import AsgiHandler
from aioweb.contract import Handler

Interface = Literal["asgi", "native"]


class LoadError(Exception):
    """The app could not be imported, or is not something aioweb can serve."""


def import_from_string(target: str) -> object:
    """The object named by ``"package.module:attribute.attribute"``."""
    module_name, _, attributes = target.partition(":")
    if not module_name or not attributes:
        raise LoadError(f'expected "module:attribute", got {target!r}')
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only "this module does not exist" is ours to explain; a missing
        # import *inside* the module is the module's bug, raised as is.
        if exc.name is None or not module_name.startswith(exc.name):
            raise
        raise LoadError(f"could not import module {module_name!r}") from exc
    found: object = module
    for attribute in attributes.split("."):
        try:
            found = getattr(found, attribute)
        except AttributeError as exc:
            raise LoadError(f"attribute {attributes!r} not found in module {module_name!r}"
                            ) from exc
    return found


def load_app(target: str, factory: bool = False, app_dir: str | None = ".") -> object:
    """Import the app; with ``factory``, call what was imported to get it."""
    if app_dir is not None and app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    app = import_from_string(target)
    if factory:
        if not callable(app):
            raise LoadError(f"{target!r} is not callable, so it cannot be a --factory")
        app = app()
    return app


def detect_interface(app: object) -> Interface:
    """``"native"`` for a Handler or a one-argument coroutine function, ``"asgi"`` for three."""
    if isinstance(app, Handler):
        return "native"
    if inspect.isclass(app):
        raise LoadError(f"{app!r} is a class; serve an instance (or use --factory)")
    if not callable(app):
        raise LoadError(f"{app!r} is not callable: not an ASGI app nor a handler")
    try:
        signature = inspect.signature(app)
    except (TypeError, ValueError):  # a builtin or extension type: cannot tell
        return "asgi"
    positional = [p for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    varargs = any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values())
    if len(positional) >= 3 or varargs:
        return "asgi"
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else getattr(app, "__call__")
    if len(positional) == 1 and inspect.iscoroutinefunction(call):
        return "native"
    raise LoadError(f"{app!r} takes {len(positional)} argument(s): not an ASGI 3 app "
                    "(scope, receive, send) nor a native handler (request); ASGI 2 "
                    "apps are not supported; --interface says which it is")


def asgi_handlers_in(handler: object) -> Iterator[AsgiHandler]:
    """Every AsgiHandler reachable from ``handler`` through routers' ``handlers()``."""
    seen: set[int] = set()
    pending = [handler]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, AsgiHandler):
            yield current
        children = getattr(current, "handlers", None)
        if callable(children):
            pending.extend(children())
        inner = getattr(current, "handler", None)  # wrappers such as AccessLog
        if inner is not None:
            pending.append(inner)
