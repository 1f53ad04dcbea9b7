"""Grafana stand-in (Grafana is not packaged by Debian).

Like Grafana it refuses to start when GF_SECURITY_ADMIN_PASSWORD__FILE is
unreadable (the secret must be owned by uid 472) or a provisioned dashboard is
not valid JSON; it answers /api/health and /metrics and lists dashboards at /api/search.
"""
import glob
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def fail(message):
    print(f"grafana stand-in: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def admin_password():
    path = os.environ.get("GF_SECURITY_ADMIN_PASSWORD__FILE")
    if not path:
        return os.environ.get("GF_SECURITY_ADMIN_PASSWORD", "admin")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as error:
        fail(f"cannot read GF_SECURITY_ADMIN_PASSWORD__FILE: {error}")


def dashboards():
    found = []
    roots = {os.environ.get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning"), "/etc/grafana", "/var/lib/grafana"}
    for root in roots:
        for path in glob.glob(os.path.join(root, "**", "*.json"), recursive=True):
            try:
                with open(path, encoding="utf-8") as f:
                    board = json.load(f)
            except (OSError, ValueError) as error:
                fail(f"dashboard {path} is not valid JSON: {error}")
            found.append({"uid": board.get("uid"), "title": board.get("title"), "type": "dash-db", "path": path})
    return found


PASSWORD = admin_password()
DASHBOARDS = dashboards()


class Handler(BaseHTTPRequestHandler):
    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/api/health":
            self.send_json(200, {"commit": "stand-in", "database": "ok", "version": "stand-in"})
        elif self.path == "/metrics":
            # A few of Grafana's own series, so Prometheus' grafana job has something real to scrape.
            body = (
                "# HELP grafana_build_info Grafana build information.\n"
                "# TYPE grafana_build_info gauge\n"
                'grafana_build_info{edition="stand-in",version="stand-in"} 1\n'
                "# HELP grafana_stat_totals_dashboard Total dashboards.\n"
                "# TYPE grafana_stat_totals_dashboard gauge\n"
                f"grafana_stat_totals_dashboard {len(DASHBOARDS)}\n"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path.startswith("/api/search"):
            self.send_json(200, DASHBOARDS)
        elif self.path in ("/", "/login"):
            self.send_json(200, {"message": "grafana stand-in"})
        else:
            self.send_json(404, {"message": "not found"})

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("GF_SERVER_HTTP_PORT", "3000"))), Handler)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(f"grafana stand-in: {len(DASHBOARDS)} dashboards, listening", flush=True)
server.serve_forever()
