"""Shared core of the stand-in engines: an OpenAI-compatible HTTP server that behaves like a real
engine process at its boundary (binds the port, answers health/models/metrics, a minimal
completion and chat completion, SSE streaming, exits on SIGTERM).

Scripted behaviour comes from the environment, so the manager runs them through its ordinary path:
  STANDIN_LOAD_S            seconds /health answers 503 ("loading") before 200 (default 0.2)
  STANDIN_NEVER_READY=1     /health answers 503 forever
  STANDIN_IGNORE_SIGTERM=1  ignore SIGTERM (only SIGKILL ends it)
  STANDIN_EXIT_AFTER_S      exit with code 3 after this many seconds
  STANDIN_COMPLETION_S      seconds each completion takes (to hold requests in flight)
  STANDIN_RECORD            file to write {"argv": [...], "env": {...}, "pid": N} into at start
Stdlib only.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class EngineState:
    def __init__(self, flavor: str, model: str, *, metrics: bool = True) -> None:
        self.flavor = flavor
        self.model = model
        self.metrics = metrics
        self.born = time.monotonic()
        self.load_s = float(os.environ.get("STANDIN_LOAD_S", "0.2"))
        self.never_ready = os.environ.get("STANDIN_NEVER_READY") == "1"
        self.completion_s = float(os.environ.get("STANDIN_COMPLETION_S", "0"))
        self.in_flight = 0
        self.served = 0
        self.lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return not self.never_ready and time.monotonic() - self.born >= self.load_s

    def metrics_text(self) -> str:
        if self.flavor == "vllm":
            lbl = f'{{model_name="{self.model}"}}'
            return (
                "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
                "# TYPE vllm:num_requests_running gauge\n"
                f"vllm:num_requests_running{lbl} {float(self.in_flight)}\n"
                "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
                "# TYPE vllm:num_requests_waiting gauge\n"
                f"vllm:num_requests_waiting{lbl} 0.0\n"
            )
        return (
            "# HELP llamacpp:requests_processing Number of requests processing.\n"
            "# TYPE llamacpp:requests_processing gauge\n"
            f"llamacpp:requests_processing {self.in_flight}\n"
            "# HELP llamacpp:requests_deferred Number of requests deferred.\n"
            "# TYPE llamacpp:requests_deferred gauge\n"
            "llamacpp:requests_deferred 0\n"
        )


def _handler(st: EngineState) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            sys.stderr.write(f"{st.flavor}-standin: {self.command} {self.path} {fmt % args}\n")

        def _json(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                if st.ready:
                    ok = {"status": "healthy", "issues": []} if st.flavor == "tabbyapi" else {"status": "ok"}
                    self._json(200, ok)
                else:
                    self._json(503, {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}})
            elif self.path == "/v1/models" and st.ready:
                self._json(200, {"object": "list", "data": [
                    {"id": st.model, "object": "model", "created": 0, "owned_by": st.flavor}]})
            elif self.path == "/v1/model" and st.flavor == "tabbyapi" and st.ready:
                self._json(200, {"id": st.model, "object": "model", "owned_by": "tabbyAPI"})
            elif self.path == "/metrics" and st.metrics:
                data = st.metrics_text().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                self._json(404 if st.ready else 503, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._json(400, {"error": {"message": "body is not JSON"}})
                return
            if not st.ready:
                self._json(503, {"error": {"message": "Loading model"}})
                return
            chat = self.path == "/v1/chat/completions"
            if self.path not in ("/v1/completions", "/v1/chat/completions"):
                self._json(404, {"error": {"message": f"no route {self.path}"}})
                return
            with st.lock:
                st.in_flight += 1
            try:
                time.sleep(st.completion_s)
                self._complete(body, chat)
            finally:
                with st.lock:
                    st.in_flight -= 1
                    st.served += 1

        def _complete(self, body: dict[str, Any], chat: bool) -> None:
            n = int(body.get("max_tokens") or 8)
            words = [f"w{i}" for i in range(n)]
            prompt = body.get("prompt") if not chat else json.dumps(body.get("messages"))
            usage = {"prompt_tokens": len(str(prompt).split()), "completion_tokens": n,
                     "total_tokens": len(str(prompt).split()) + n}
            obj = "chat.completion" if chat else "text_completion"
            cid = f"standin-{st.served}"

            def choice(text: str, finish: str | None, delta: bool) -> dict[str, Any]:
                if not chat:
                    return {"index": 0, "text": text, "finish_reason": finish}
                key = "delta" if delta else "message"
                return {"index": 0, key: {"role": "assistant", "content": text}, "finish_reason": finish}

            if not body.get("stream"):
                self._json(200, {"id": cid, "object": obj, "created": int(time.time()), "model": st.model,
                                 "choices": [choice(" ".join(words), "length", False)], "usage": usage})
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            chunk_obj = "chat.completion.chunk" if chat else "text_completion"
            for i, w in enumerate(words):
                last = i == len(words) - 1
                ev = {"id": cid, "object": chunk_obj, "created": int(time.time()), "model": st.model,
                      "choices": [choice((" " if i else "") + w, "length" if last else None, True)]}
                if last:
                    ev["usage"] = usage
                self.wfile.write(f"data: {json.dumps(ev)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return H


def serve(flavor: str, model: str, host: str, port: int, *, metrics: bool = True,
          on_start: Callable[[], None] | None = None) -> int:
    if rec := os.environ.get("STANDIN_RECORD"):
        env = {k: v for k, v in os.environ.items() if k.startswith(("CUDA_", "STANDIN_"))}
        with open(rec, "w") as f:
            json.dump({"argv": sys.argv, "env": env, "pid": os.getpid(), "cwd": os.getcwd()}, f)
    st = EngineState(flavor, model, metrics=metrics)
    srv = ThreadingHTTPServer((host, port), _handler(st))
    srv.daemon_threads = True
    print(f"{flavor}-standin: serving {model!r} on http://{host}:{port}", flush=True)

    def on_term(signum: int, frame: Any) -> None:
        if os.environ.get("STANDIN_IGNORE_SIGTERM") == "1":
            print(f"{flavor}-standin: ignoring SIGTERM", flush=True)
            return
        print(f"{flavor}-standin: SIGTERM, shutting down", flush=True)
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    if exit_after := os.environ.get("STANDIN_EXIT_AFTER_S"):
        def crash() -> None:
            time.sleep(float(exit_after))
            print(f"{flavor}-standin: simulated crash", flush=True)
            os._exit(3)
        threading.Thread(target=crash, daemon=True).start()
    if on_start:
        on_start()
    srv.serve_forever(poll_interval=0.05)
    srv.server_close()
    print(f"{flavor}-standin: stopped", flush=True)
    return 0
