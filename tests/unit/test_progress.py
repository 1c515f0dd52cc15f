"""Progress of the long commands (`import`, `rebuild`, `rewrap`): a bar on a terminal, JSON
lines for logs and scripts."""

from __future__ import annotations

import io
import json

from service.roots.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_it_says_json_lines_and_a_last_one_with_the_counts() -> None:
    stream = io.StringIO()
    progress = Progress("import", "users", 10, stream, interval=0.0)
    progress.advance(4, imported=3, skipped=1)
    progress.reach(10, imported=6)
    final = progress.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["progress"] for line in lines] == ["running", "running", "done"]
    assert lines[0]["done"] == 4 and lines[0]["total"] == 10 and "eta_seconds" in lines[0]
    timed = ("rate_per_second", "elapsed_seconds", "eta_seconds")
    assert {k: v for k, v in lines[-1].items() if k not in timed} == {
        "progress": "done",
        **{k: v for k, v in final.items() if k not in timed},
    }
    assert (final["done"], final["imported"], final["skipped"]) == (10, 9, 1)
    assert final["command"] == "import" and final["unit"] == "users"


def test_it_says_at_most_one_line_an_interval() -> None:
    stream = io.StringIO()
    progress = Progress("rewrap", "keys", None, stream, interval=3600)
    for _ in range(1000):
        progress.advance(1)
    progress.close()
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["done"] == 1000 and "eta_seconds" not in json.loads(line)


def test_on_a_terminal_it_draws_a_bar_with_the_rate_and_the_time_left() -> None:
    terminal = Terminal()
    progress = Progress("import", "users", 100, terminal)
    progress.advance(50, imported=50)
    progress.close()
    drawn = terminal.getvalue()
    assert "import" in drawn and "50.0/100" in drawn and "imported=50" in drawn
    assert "users/s" in drawn and "{" not in drawn  # a bar, not JSON
