"""Everything that leaves the process, in one place: what other systems rely on.

`cloudevents.py` (the credential events on `tempstrong.events`), `envelope.py` (the sealed
delivery envelope on `tempstrong.delivery`), `topology.py` (exchanges, queues, routing keys) and
`asyncapi.py` (the AsyncAPI 3 document generated from them). The REST contract lives with the
code that answers it, in `service/http/` (`openapi.py`).
"""
