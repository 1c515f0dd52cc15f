"""The publisher: a follower whose "view" sends each credential event to RabbitMQ.

`messages.py` turns a stored event into its CloudEvent and, for a Created or Reset with an
out-of-band channel, its sealed delivery envelope (both from `service/contracts/`); `sink.py`
publishes a batch and records the position; `held.py` keeps the events set aside (refused, or
waiting behind a refused event of their credential) and when to retry or park them;
`../parking.py` keeps the parked and held rows; `amqp.py` (which tells a refusal of one message
from a broker that is unusable) and `inprocess.py` are the two transports.
"""
