#!/usr/bin/python3
"""A loopback SMS provider for the quick start, speaking the request and
callback formats of the shipped `form-basic` http-sms profile
(plugins/http-sms/profiles/form-basic.yaml):

  POST /2010-04-01/Accounts/<account>/Messages.json   To, From, Body, StatusCallback
      (HTTP basic auth)  ->  201 {"sid": "SM...", "status": "queued"}

and, a moment later, the delivery report to the StatusCallback URL: a form
POST of MessageSid, MessageStatus (delivered, or undelivered with ErrorCode
30003 for about one number in twenty) signed with X-Twilio-Signature (base64
HMAC-SHA1, keyed with the account's password, over the URL followed by every
parameter's name and value sorted by name).  Every accepted message is one
JSON line in the log: {"sid", "to", "text", "status_url", "status"}.

    sms-provider.py PORT PASSWORD-FILE LOG
"""
import base64
import hashlib
import hmac
import json
import queue
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, password_file, log_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(password_file, encoding="utf-8") as f:
    password = f.read().rstrip("\n")
reports = queue.Queue()
lock = threading.Lock()
count = 0


def signature(url, params):
    data = url + "".join(k + params[k] for k in sorted(params))
    mac = hmac.new(password.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def reporter():
    """Post the delivery reports, in order, about half a second after the send."""
    while True:
        due, url, params = reports.get()
        time.sleep(max(0.0, due - time.time()))
        req = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(),
                                     headers={"X-Twilio-Signature": signature(url, params)})
        for attempt in range(3):
            try:
                urllib.request.urlopen(req, timeout=5).read()
                break
            except OSError as e:
                if attempt == 2:
                    print("sms-provider: status callback failed: %s" % e, file=sys.stderr)
                time.sleep(0.5)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        global count
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not self.path.endswith("/Messages.json"):
            return self.reply(404, {"code": 20404, "message": "not found"})
        try:
            form = urllib.parse.parse_qs(raw.decode(), keep_blank_values=True,
                                         strict_parsing=True)
            msg = {k: v[0] for k, v in form.items()}
            to, text = msg["To"], msg["Body"]
        except (ValueError, KeyError):
            return self.reply(400, {"code": 21602, "message": "To and Body are required"})
        with lock:
            count += 1
            sid = "SM%032d" % count
        bad = to[-2:] in ("13", "37", "61", "89", "97")
        status = "undelivered" if bad else "delivered"
        callback = msg.get("StatusCallback")
        with lock, open(log_path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"sid": sid, "to": to, "text": text,
                                  "status_url": callback, "status": status}) + "\n")
        if callback:
            params = {"MessageSid": sid, "MessageStatus": status}
            if bad:
                params["ErrorCode"] = "30003"
            reports.put((time.time() + 0.5, callback, params))
        return self.reply(201, {"sid": sid, "status": "queued"})


threading.Thread(target=reporter, daemon=True).start()
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
