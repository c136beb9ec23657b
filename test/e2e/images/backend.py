#!/usr/bin/env python3
"""Stand-in for the portal's Django backend (e2e tier only), on 0.0.0.0:8000.

POST /api/exports/<name>   writes the request body to /exports/<name>       -> 201
GET  /api/download/<name>  answers with X-Accel-Redirect: /protected/exports/<name>, as the
                           portal does, so that nginx serves the file from its read-only /exports
GET  /api/health           -> 200 ok
"""
import os
import re
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EXPORTS = "/exports"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


class Handler(BaseHTTPRequestHandler):
    def _send(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _name(self, prefix):
        name = self.path[len(prefix):].split("?", 1)[0]
        return name if NAME.match(name) else None

    def do_GET(self):
        if self.path == "/api/health":
            return self._send(200, b"ok\n")
        if self.path.startswith("/api/download/"):
            name = self._name("/api/download/")
            if name is None:
                return self._send(400, b"bad name\n")
            if not os.path.isfile(os.path.join(EXPORTS, name)):
                return self._send(404, b"no such export\n")
            return self._send(200, headers={"X-Accel-Redirect": "/protected/exports/" + name})
        return self._send(404, b"not found\n")

    def do_POST(self):
        if self.path.startswith("/api/exports/"):
            name = self._name("/api/exports/")
            if name is None:
                return self._send(400, b"bad name\n")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            tmp = os.path.join(EXPORTS, "." + name + ".partial")
            with open(tmp, "wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, os.path.join(EXPORTS, name))
            return self._send(201, b"written\n")
        return self._send(404, b"not found\n")

    def log_message(self, fmt, *args):
        print("backend: " + (fmt % args), flush=True)


if __name__ == "__main__":
    # As PID 1 the process has no default SIGTERM action: stop at once, as gunicorn does,
    # instead of making `docker stop` wait for its timeout.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
