#!/usr/bin/env python3
"""Stand-in for the portal's Django backend (e2e tier only), on 0.0.0.0:8000.

POST /api/exports/<name>   writes the request body to /exports/<name>       -> 201
GET  /api/download/<name>  answers with X-Accel-Redirect: /protected/exports/<name>, as the
                           portal does, so that nginx serves the file from its read-only /exports
GET  /api/rows/<tag>        the database's drill rows of <tag> (the e2e tier's seed), read with
                           psql as the backend's own role: "<count>:<sum of n>:<md5 of the points>"
GET  /api/health           -> 200 ok

SIGTERM stops it as it stops gunicorn: no new connections, the requests in flight answered, then exit.
"""
import os
import re
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EXPORTS = "/exports"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
TAG = re.compile(r"^[a-z0-9-]{1,60}$")
# The same checksum as the tier's harness computes (test/e2e/harness.ts, checksumSql).
ROWS_SQL = ("SELECT count(*) || ':' || coalesce(sum(n), 0) || ':' || md5(coalesce(string_agg(ST_AsText(geom), ',' ORDER BY n), '')) "
            "FROM drill_rows WHERE tag = :'tag';")


def rows_of(tag):
    """The checksum of a tag's rows, over TCP with the settings the program gives the backend."""
    env = dict(os.environ, PGHOST=os.environ["POSTGRES_HOST"], PGPORT=os.environ.get("POSTGRES_PORT", "5432"),
               PGDATABASE=os.environ["POSTGRES_DB"], PGUSER=os.environ["POSTGRES_USER"], PGPASSWORD=os.environ["POSTGRES_PASSWORD"],
               PGCONNECT_TIMEOUT="30")
    done = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-v", "tag=" + tag, "-tAq"], input=ROWS_SQL,
                          env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, (done.stdout if done.returncode == 0 else done.stderr)


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
        if self.path.startswith("/api/rows/"):
            tag = self.path[len("/api/rows/"):]
            if not TAG.match(tag):
                return self._send(400, b"bad tag\n")
            code, text = rows_of(tag)
            return self._send(200 if code == 0 else 500, text.encode())
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


class Server(ThreadingHTTPServer):
    # server_close() waits for the request threads: the requests in flight are answered.
    daemon_threads = False


if __name__ == "__main__":
    server = Server(("0.0.0.0", 8000), Handler)
    # As PID 1 the process has no default SIGTERM action: stop gracefully, as gunicorn does
    # (shutdown() waits for serve_forever, so it runs outside the signal handler's thread).
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever(poll_interval=0.1)
    server.server_close()
