"""The event store: the port the commands use (port.py), its two adapters (postgres.py with the
group commit, library.py for dev mode and tests), the pools (pool.py), the readers that follow
the notification log (notifications.py) and the names of it all (names.py)."""
