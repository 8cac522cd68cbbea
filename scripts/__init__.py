"""Hostile-client scripts for aioweb: live fuzzing, load and fault injection.

* ``wire.py``           — the client side they share: a strict HTTP/1.1
  response parser, socket helpers, a server subprocess and its /proc figures.
* ``hostile_server.py`` — the server they attack, run as a subprocess.
* ``fuzz_live.py``      — mutated requests against a live server.
* ``load_faults.py``    — idle connections, floods, slow readers, resets, signals.

Every target is 127.0.0.1, every loop is bounded in count and in time. The
results and the commands that produced them are in ``docs/limits.md``.
"""
