"""Benchmarks: the driver (bench_core and its modules), the control server, the peers' ASGI app.

A package so that uvicorn and granian can import ``bench.asgi_echo:app``
when started from the project root.
"""
