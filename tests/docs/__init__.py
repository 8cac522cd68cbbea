"""The docs' own tests: the pages cannot drift from the code, and the exercises can be checked.

* ``test_docs.py``      — every file, symbol and trace line the pages name exists;
  every Python block compiles, and runs unless marked; the generated parts of
  ``docs/architecture.md`` are up to date.
* ``test_layering.py``  — every ``import`` in ``aioweb/`` respects the layers.
* ``test_exercises.py`` — the walkthrough's exercises, against the reference
  solutions or, with ``AIOWEB_EXERCISES=DIR``, against a learner's files.
* ``trace_cost.py``     — not a test: the measurement behind the trace section.

A package with its own ``conftest.py`` and ``support.py``, so that it depends
on nothing else under ``tests/``.
"""
