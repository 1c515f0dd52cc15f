"""The read side of the service layer. Single users and credentials are read from the event store
(they reflect every acknowledged write); pages of credentials come from the read model (it may
lag). `facade.py` is what the HTTP handlers call."""
