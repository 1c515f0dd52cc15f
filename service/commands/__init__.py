"""The service layer: each command loads its aggregates, lets them decide, saves, retries on a
version conflict. `users.py` and `credentials.py` hold the commands of each aggregate;
`aggregates.py` loading and saving through the event store's port; `idempotency.py` the
Idempotency-Key records; `out_of_band.py` sealing what the out-of-band channel carries."""
