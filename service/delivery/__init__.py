"""The delivery worker: open sealed envelopes and send them out of band.

`worker.py` decides (deliver, skip, retry, dead-letter) without knowing the transport;
`amqp.py` and `inprocess.py` are the two transports; `channels/` holds one module per channel.
"""
