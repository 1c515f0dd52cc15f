"""Stand-in SMS gateway for the compose stack: accepts POST {"to", "text"} and logs it.

Development only: it prints the message, code included, to its log (`docker compose logs sms-sink`).
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = 8081
MAX_BODY = 64 * 1024


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(413)
            return
        try:
            message = json.loads(self.rfile.read(length))
            to, text = message["to"], message["text"]
        except (ValueError, KeyError, TypeError):
            self.send_error(400, 'expected JSON {"to": ..., "text": ...}')
            return
        print(json.dumps({"sms_to": to, "text": text}), flush=True)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write("sms-sink: " + format % args + "\n")


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()  # noqa: S104
