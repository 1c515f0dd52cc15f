"""The credentials view behind the list endpoint: `rows.py` decides what a row holds (pure),
`postgres.py` keeps it in PostgreSQL (projector, rebuild, the API's reader), `sqlite.py` in dev
mode's file."""
