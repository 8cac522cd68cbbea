"""Hostile clients, faults and load: the server must keep serving and lose nothing.

A package (with its own ``conftest.py`` and ``support.py``) so that it depends
on nothing else under ``tests/``: the servers, clients and fixtures it uses
are all defined here or in ``scripts/``.
"""
