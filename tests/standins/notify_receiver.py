#!/usr/bin/env python3
"""Stand-in ntfy server / webhook receiver: records every POSTed JSON body as one line in --out.

``--mode ntfy`` answers like ntfy's JSON publish (200 with the message envelope; 400 without a topic);
``--mode webhook`` answers 204. ``--fail N`` answers HTTP N instead (to test delivery errors).
``--token T`` requires ``Authorization: Bearer T`` (401 otherwise). Prints the port on stdout when ready.
"""

import argparse
import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mode", choices=["ntfy", "webhook"], default="webhook")
    ap.add_argument("--fail", type=int, default=0)
    ap.add_argument("--token", default=None)
    a = ap.parse_args()

    class H(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _reply(self, code: int, body: dict | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(code)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if a.token and self.headers.get("Authorization") != f"Bearer {a.token}":
                return self._reply(401, {"code": 40101, "http": 401, "error": "unauthorized"})
            if a.fail:
                return self._reply(a.fail, {"error": "stand-in told to fail"})
            try:
                body = json.loads(raw)
            except ValueError:
                return self._reply(
                    400, {"code": 40024, "http": 400, "error": "invalid request: body must be JSON"}
                )
            with open(a.out, "a") as f:
                f.write(json.dumps({"path": self.path, "body": body}) + "\n")
            if a.mode == "ntfy":
                if not body.get("topic"):
                    return self._reply(400, {"code": 40009, "http": 400, "error": "invalid topic"})
                return self._reply(
                    200,
                    {
                        "id": uuid.uuid4().hex[:12],
                        "time": int(time.time()),
                        "event": "message",
                        "topic": body["topic"],
                        "title": body.get("title"),
                        "message": body.get("message"),
                        "priority": body.get("priority"),
                    },
                )
            return self._reply(204)

    srv = ThreadingHTTPServer(("127.0.0.1", a.port), H)
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
