"""The ``http.response.pathsend`` extension: the app names a file, aioweb sends it.

An ASGI app serving a file (Starlette's ``FileResponse``) would otherwise
open and read it itself and pass it through ``send()`` one
``http.response.body`` message at a time. Every scope aioweb builds offers
this extension instead, so the app may send, after its
``http.response.start``, one ``{"type": "http.response.pathsend", "path":
"/absolute/path"}`` as its whole body. The exchange hands the file to the
container as a streamed body (:class:`FileChunks`): written as the client
reads it, with the back-pressure of any streamed body. The app still gives
the headers: Content-Type, and Content-Length, which the container holds the
file to: as for any streamed body that breaks its length, nothing past it is
sent, and a file longer or shorter than it ends with the connection closed.

Files are opened and read in the loop's default thread pool: a disk read can
block, and a blocked event loop stalls every connection, not only this one.
"""

from __future__ import annotations

import asyncio
import os
from typing import BinaryIO

# One read per chunk, the size of the transport's default high-water mark
# (Config.write_buffer_size): each read refills what the client has drained.
CHUNK_SIZE = 64 * 1024


class FileChunks:
    """A file's bytes as an async iterator of chunks, read in a worker thread.

    Opened (:meth:`open`) before the response's head goes out, so that a path
    that cannot be read fails the app's ``send()``, which then becomes its
    500, instead of cutting a response short. Whoever opens it closes it
    (``close``; ``aclose`` for whoever iterates it), whether the body was
    read to its end, cut, or never read (a HEAD request).
    """

    __slots__ = ("_file", "_loop")

    def __init__(self, file: BinaryIO, loop: asyncio.AbstractEventLoop) -> None:
        self._file = file
        self._loop = loop

    @classmethod
    async def open(cls, path: object) -> FileChunks:
        """Open the file at ``path``, which the spec asks to be absolute."""
        if not isinstance(path, str):
            raise TypeError(f"http.response.pathsend: path must be a str, not {path!r}")
        if not os.path.isabs(path):
            # A relative path would depend on the server's working directory.
            raise ValueError(f"http.response.pathsend: path must be absolute, not {path!r}")
        loop = asyncio.get_running_loop()
        file = await loop.run_in_executor(None, _open_for_reading, path)
        return cls(file, loop)

    def __aiter__(self) -> FileChunks:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._loop.run_in_executor(None, self._file.read, CHUNK_SIZE)
        if not chunk:
            raise StopAsyncIteration
        return chunk

    def close(self) -> None:
        """Close the file (again is harmless)."""
        self._file.close()

    async def aclose(self) -> None:
        """Close the file: what whoever iterates an async iterator calls."""
        self.close()


def _open_for_reading(path: str) -> BinaryIO:
    return open(path, "rb")  # pylint: disable=consider-using-with  # closed by close()
