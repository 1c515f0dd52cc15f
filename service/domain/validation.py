"""Identifier grammar of SPEC section 1 (clientExtId is part of AMQP routing keys)."""

from __future__ import annotations

import re

CLIENT_EXT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
EXT_ID = re.compile(r"[A-Za-z0-9._@+-]{1,255}")
