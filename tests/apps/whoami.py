#!/usr/bin/env python3
"""A small JSON app that knows nothing of OpenID Connect: it trusts the
identity headers the gate in front of it sets, as any app behind the gate
does. The Cloud Run rehearsal runs it as the sidecar of a gated service.

  GET /api/me   {"email": X-Forwarded-Email, "user": X-Forwarded-User,
                 "assertion": whether X-Handoff-Assertion came}
  GET /healthz  {"ok": true}, for the startup probe

It listens on 127.0.0.1:$PORT only (default 8080): on Cloud Run the
containers of an instance share localhost, and only the gate, the ingress
container, is reachable from outside. Each request is logged as one JSON
line with the headers it received, so a test can read what reached it.
"""

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        email = self.headers.get("X-Forwarded-Email")
        user = self.headers.get("X-Forwarded-User")
        assertion = self.headers.get("X-Handoff-Assertion") is not None
        print(json.dumps({"path": self.path, "email": email, "user": user,
                          "assertion": assertion}), flush=True)
        if self.path == "/healthz":
            self.answer(200, {"ok": True})
        elif self.path == "/api/me":
            self.answer(200, {"email": email, "user": user, "assertion": assertion})
        else:
            self.answer(404, {"error": "not found"})

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass  # one JSON line per request is written in do_GET


def main():
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    # SIGTERM: stop serving and exit 0, as Cloud Run's shutdown expects.
    signal.signal(signal.SIGTERM,
                  lambda *_: threading.Thread(target=server.shutdown).start())
    print(json.dumps({"listening": port}), flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
