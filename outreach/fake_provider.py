"""A fake SMS provider over HTTP, on the loopback (tests, the benchmark, local
trials): it speaks the protocol of outreach.sms.HttpSmsBackend.

- POST /messages  {"to", "text"} with Idempotency-Key and X-Signature (HMAC of
  the body): 201 {"id"}; the same key again answers the first message's id and
  delivers nothing new. A bad signature: 401. ``fail_next`` answers 503 that
  many times (retries); ``refuse_next`` answers 400 (a permanent refusal).
- GET /messages?key=...: 200 {"id"} if held, else 404.

``python -m outreach.fake_provider PORT SECRET`` runs it alone, printing each
delivery; ``FakeProvider(secret).start()`` runs it in a thread.
"""

from __future__ import annotations

import hmac
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from outreach.sms import hmac_signature


class FakeProvider:
    def __init__(self, secret: str, *, port: int = 0, quiet: bool = True) -> None:
        self.secret = secret
        self.lock = threading.Lock()
        self.by_key: dict[str, dict[str, Any]] = {}
        self.deliveries: list[dict[str, Any]] = []  # one per message really delivered
        self.requests = 0
        self.fail_next = 0
        self.refuse_next = 0
        self.quiet = quiet
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> FakeProvider:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                expected = hmac_signature(provider.secret, body)
                if not hmac.compare_digest(self.headers.get("X-Signature", ""), expected):
                    return self._answer(401, {"error": "bad signature"})
                key = self.headers.get("Idempotency-Key", "")
                with provider.lock:
                    provider.requests += 1
                    if provider.refuse_next:
                        provider.refuse_next -= 1
                        return self._answer(400, {"error": "invalid number"})
                    if provider.fail_next:
                        provider.fail_next -= 1
                        return self._answer(503, {"error": "try later"})
                    if key and key in provider.by_key:
                        return self._answer(200, {"id": provider.by_key[key]["id"]})
                    message = json.loads(body)
                    record = {
                        "id": f"fake-{len(provider.deliveries) + 1}",
                        "key": key,
                        "to": message["to"],
                        "text": message["text"],
                    }
                    provider.deliveries.append(record)
                    if key:
                        provider.by_key[key] = record
                if not provider.quiet:
                    print(f"delivered {record['id']} to {record['to']}: {record['text']}")
                return self._answer(201, {"id": record["id"]})

            def do_GET(self) -> None:
                parsed = urllib.parse.urlparse(self.path)
                expected = hmac_signature(provider.secret, parsed.query.encode())
                if not hmac.compare_digest(self.headers.get("X-Signature", ""), expected):
                    return self._answer(401, {"error": "bad signature"})
                key = urllib.parse.parse_qs(parsed.query).get("key", [""])[0]
                with provider.lock:
                    record = provider.by_key.get(key)
                if record is None:
                    return self._answer(404, {"error": "no such message"})
                return self._answer(200, {"id": record["id"]})

        return Handler


if __name__ == "__main__":
    server = FakeProvider(sys.argv[2], port=int(sys.argv[1]), quiet=False)
    print(f"fake SMS provider on {server.url}")
    server.server.serve_forever()
