"""Stand-in for an OpenAI-compatible embeddings server (Ollama, vLLM, the Hydra gateway).

Speaks ``POST /v1/embeddings`` over real HTTP: ``{"model", "input": str | [str]}`` ->
``{"object": "list", "data": [{"object": "embedding", "index": i, "embedding": [...]}], "model", "usage"}``.
Vectors come from the hashing embedder (deterministic) and are deliberately NOT unit length (scaled
by 3), so the client's normalisation is exercised. Requests are appended to ``--log`` as JSON lines.
``--fail-status`` makes every request answer that status (error-path tests); ``--token`` requires
``Authorization: Bearer <token>``.

    python -m tests.standins.embeddings_server --port 8999 --dim 64 [--log FILE]
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from memory.embed.hashing import HashingEmbedder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--model", default="standin-embed")
    ap.add_argument("--log", default=None)
    ap.add_argument("--fail-status", type=int, default=0)
    ap.add_argument("--token", default=None)
    args = ap.parse_args()
    emb = HashingEmbedder(args.dim)

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if args.log:
                with open(args.log, "a") as fh:
                    fh.write(
                        json.dumps({"path": self.path, "auth": self.headers.get("Authorization"), "body": raw.decode()})
                        + "\n"
                    )
            if self.path != "/v1/embeddings":
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
            if args.token and self.headers.get("Authorization") != f"Bearer {args.token}":
                return self._send(401, {"error": {"message": "bad token"}})
            if args.fail_status:
                return self._send(args.fail_status, {"error": {"message": "stand-in told to fail"}})
            try:
                req = json.loads(raw)
                inputs = req["input"] if isinstance(req["input"], list) else [req["input"]]
                model = req["model"]
            except (ValueError, KeyError, TypeError):
                return self._send(400, {"error": {"message": "expected {model, input}"}})
            data = [
                {"object": "embedding", "index": i, "embedding": [3.0 * x for x in emb.embed_one(t)]}
                for i, t in enumerate(inputs)
            ]
            data.reverse()  # servers may answer out of order; clients must sort by index
            self._send(
                200, {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": 0, "total_tokens": 0}}
            )

        def log_message(self, format: str, *a: Any) -> None:
            return None

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
