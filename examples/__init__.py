"""Examples of serving ASGI apps with aioweb (run from the project root).

* ``fastapi_hot_route`` — a FastAPI app whose hottest route moves to a native handler.
* ``asgi_hello``        — the benchmark's apps: raw ASGI and FastAPI hello/echo.
* ``bench_asgi``        — the benchmark driver (wrk, pinned, interleaved rounds).
"""
