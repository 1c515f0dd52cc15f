"""Published patterns as their readers run them: ECMA-262 regular expressions in Node.js.

OpenAPI and JSON Schema patterns are ECMA-262, not Python: `$` there never matches before a
final newline, for one. A pattern that says what the server decides must decide it in Node too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

# JSON Schema validators (ajv among them) compile patterns with the `u` flag; check both ways.
_SCRIPT = """
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const plain = new RegExp(input.pattern), unicode = new RegExp(input.pattern, "u");
const verdicts = input.values.map((value) => {
  const a = plain.test(value), b = unicode.test(value);
  return a === b ? a : "differs";
});
process.stdout.write(JSON.stringify(verdicts));
"""


def ecma_test(pattern: str, values: list[str]) -> list[bool]:
    """`new RegExp(pattern).test(value)` for each value (the same with and without `u`)."""
    if shutil.which("node") is None:
        if (os.environ.get("CI") or "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail("node is not on PATH, and CI is set")
        pytest.skip("node is not on PATH; not CI")
    result = subprocess.run(
        ["node", "-e", _SCRIPT],
        input=json.dumps({"pattern": pattern, "values": values}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    verdicts = json.loads(result.stdout)
    assert "differs" not in verdicts, "the pattern decides differently with the `u` flag"
    return [bool(v) for v in verdicts]
