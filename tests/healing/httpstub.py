"""A real HTTP server on a thread for healing tests: answers health and OpenAI one-token completions.

``mode`` can be changed while it runs: "ok", "500", "garbage" (200 with a non-OpenAI body), "slow".
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StubServer:
    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[tuple[str, str, Any]] = []
        stub = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _send(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def _answer(self, body: Any) -> None:
                stub.requests.append((self.command, self.path, body))
                if stub.mode == "slow":
                    time.sleep(2)
                if stub.mode == "500":
                    return self._send(500, {"error": "boom"})
                if stub.mode == "garbage":
                    return self._send(200, {"hello": "world"})
                if self.path.endswith("/completions"):
                    text = {"text": "!"} if "chat" not in self.path else {"message": {"role": "assistant",
                                                                                       "content": "!"}}
                    return self._send(200, {"id": "x", "object": "text_completion",
                                            "choices": [{"index": 0, **text, "finish_reason": "length"}]})
                return self._send(200, {"status": "ok"})

            def do_GET(self) -> None:
                self._answer(None)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer(json.loads(raw) if raw else None)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
