"""Mailhog stand-in: accepts any mail on SMTP port 1025 and lists it at
GET /api/v2/messages (Mailhog's JSON shape: total, count, start, items with
Content.Headers / Content.Body and Raw) and GET /api/v1/messages; DELETE
/api/v1/messages empties the box."""
import email
import json
import signal
import sys
import threading
import uuid
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

MESSAGES = []
LOCK = threading.Lock()


def mailbox(address):
    local, _, domain = address.partition("@")
    return {"Relays": None, "Mailbox": local, "Domain": domain, "Params": ""}


class Sink:
    async def handle_DATA(self, server, session, envelope):
        raw = envelope.content.decode("utf-8", errors="replace")
        parsed = email.message_from_string(raw, policy=policy.default)
        headers = {}
        for name, value in parsed.items():
            headers.setdefault(name, []).append(str(value))
        body = parsed.get_body(preferencelist=("plain", "html"))
        message = {
            "ID": f"{uuid.uuid4()}@mailhog.stand-in",
            "From": mailbox(envelope.mail_from),
            "To": [mailbox(to) for to in envelope.rcpt_tos],
            "Content": {"Headers": headers, "Body": body.get_content() if body else raw, "Size": len(raw)},
            "Raw": {"From": envelope.mail_from, "To": list(envelope.rcpt_tos), "Data": raw},
        }
        with LOCK:
            MESSAGES.insert(0, message)
        print(f"mail from {envelope.mail_from} to {', '.join(envelope.rcpt_tos)}: {parsed.get('Subject')}", flush=True)
        return "250 Message accepted for delivery"


class Api(BaseHTTPRequestHandler):
    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with LOCK:
            items = list(MESSAGES)
        if self.path.startswith("/api/v2/messages"):
            self.send_json(200, {"total": len(items), "count": len(items), "start": 0, "items": items})
        elif self.path.startswith("/api/v1/messages"):
            self.send_json(200, items)
        else:
            self.send_json(200, {"service": "mailhog stand-in"})

    def do_DELETE(self):
        with LOCK:
            MESSAGES.clear()
        self.send_json(200, {})

    def log_message(self, *args):
        pass


controller = Controller(Sink(), hostname="0.0.0.0", port=1025)
controller.start()
api = ThreadingHTTPServer(("0.0.0.0", 8025), Api)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("mailhog stand-in: SMTP :1025, API :8025", flush=True)
api.serve_forever()
