"""What happens after a write commits: read models and publishers that follow the event store.

`follower.py` reads the notification log from a tracked position; each sink (the credentials view,
the publisher) applies a batch and records its new position in one transaction.
"""
