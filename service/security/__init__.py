"""Who may do what, and secrets kept secret: token verification (jwks.py, tokens.py), the
authorization rules (access.py, permissions.py), sealed boxes for the delivery worker
(sealing.py) and the keys of dev mode (devkeys.py)."""
