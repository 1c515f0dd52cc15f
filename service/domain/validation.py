"""Identifier grammar (clientExtId is part of AMQP routing keys).

`EXT_ID` (userExtId, credential extId, loginId, policyExtId) is never `.` or `..`: clients that
normalize paths (curl, browsers, ingresses) turn `/users/..` into another path, so such a user
could never be read or deleted. The lookahead holds inside a larger pattern too (the AsyncAPI
document embeds EXT_ID in the CloudEvent `source`), and reads the same in ECMA-262.
"""

from __future__ import annotations

import re

CLIENT_EXT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_EXT_ID_CHAR = "[A-Za-z0-9._@+-]"
EXT_ID = re.compile(rf"(?!\.\.?(?!{_EXT_ID_CHAR})){_EXT_ID_CHAR}{{1,255}}")
EXT_ID_RULE = "[A-Za-z0-9._@+-]{1,255}, and not . or .."  # EXT_ID in words, for messages
