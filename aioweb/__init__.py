"""aioweb: an asyncio HTTP/1.1 web container, written to be read.

Reading order (each layer depends only on the layers before it):

1. ``contract``   — the ABCs: Container, Handler, Request, and Response.
2. ``headers``, ``errors``, ``config`` — plain data.
3. ``http11``     — HTTP/1.1 without I/O: bytes in, events out, bytes to send.
4. ``server``     — the one place that owns sockets, transports and the loop.
"""

from aioweb.config import Config
from aioweb.contract import Container, Handler, Request, Response
from aioweb.errors import ClientDisconnected, HttpError
from aioweb.headers import Headers
from aioweb.server.container import HttpToolsContainer
from aioweb.server.request import HttpToolsRequest

__version__ = "0.1.0"

__all__ = ["ClientDisconnected", "Config", "Container", "Handler", "Headers", "HttpError",
           "HttpToolsContainer", "HttpToolsRequest", "Request", "Response", "__version__"]
