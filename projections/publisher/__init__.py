"""The publisher: a follower whose "view" sends each credential event to RabbitMQ.

`messages.py` turns a stored event into its CloudEvent and, for a Created or Reset with an
out-of-band channel, its sealed delivery envelope (both from `service/contracts/`); `sink.py`
publishes a batch, parks what cannot be published and records the position; `parking.py` keeps
the parked events; `amqp.py` and `inprocess.py` are the two transports.
"""
