"""The PostgreSQL adapter's shared parts: pools as every process opens them (pool.py), what the
driver raises when the database is away (errors.py) and the lock that serializes schema changes
(schema.py). The adapters themselves sit beside their ports (eventstore/, projections/,
delivery/)."""
