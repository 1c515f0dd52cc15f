"""The composition roots: one short module per process, where its parts are chosen and wired.

`api.py`, `dev.py`, `projector.py`, `publisher.py`, `delivery.py`, `migrate.py`, `rebuild.py`,
`republish.py` and `tools.py` (keys, token); `parts.py` builds what several of them share and
`running.py` runs a process: signals, health and metrics endpoints, start and stop lines. Dev
mode wires the same parts as production and differs only in the adapters it picks (the library's
SQLite store, the SQLite view, an in-process queue, files instead of mail and SMS).
"""
