#!/usr/bin/python3
"""A simulated day of debtor responses for the quick start, sent the way an
in-house system sends them: signed batches to cadenza's outcome API
(POST /v1/outcomes, docs/api.md).

Who was contacted is read from the loopback peers: the e-mails in the
Maildir (To and X-Cadenza-Attempt headers) and the SMS provider's log (To,
and the attempt in the status callback URL).  Each contact draws, with a
fixed seed: e-mails are opened (35%), then clicked (30% of those); texts
get a reply (8%); a contacted debtor (once, on the first contact) promises
to pay within a week (6%), pays the balance (4%) or opts out of that
channel (1%).  Besides, one
debtor in a hundred of the whole portfolio pays without being asked.

    simulate-day.py URL KEY-FILE DEBTORS.CSV MAILDIR SMS-LOG
"""
import csv
import email
import email.policy
import hashlib
import hmac
import json
import mailbox
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

url, key_file, debtors_csv, maildir, sms_log = sys.argv[1:6]
with open(key_file, "rb") as f:
    key = f.read().rstrip(b"\n")
rng = random.Random(42)
now = datetime.now(timezone.utc).replace(microsecond=0)
stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
promise = (now + timedelta(days=7)).strftime("%Y-%m-%d")

by_email, by_phone, debtors = {}, {}, []
with open(debtors_csv, newline="", encoding="utf-8") as f:
    for row in csv.DictReader(f):
        debtors.append(row)
        if row.get("email"):
            by_email[row["email"].lower()] = row
        if row.get("phone"):
            by_phone[row["phone"]] = row

contacts = []  # (debtor row, channel, attempt id)
for msg in mailbox.Maildir(maildir, factory=lambda f: email.message_from_binary_file(
        f, policy=email.policy.default), create=False):
    to = email.utils.parseaddr(str(msg.get("To", "")))[1].lower()
    if to in by_email:
        contacts.append((by_email[to], "email", str(msg.get("X-Cadenza-Attempt", ""))))
try:
    with open(sms_log, encoding="utf-8") as f:
        for line in f:
            m = json.loads(line)
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(m.get("status_url") or "").query)
            if m["to"] in by_phone and m.get("status") == "delivered":
                contacts.append((by_phone[m["to"]], "sms", q.get("attempt", [""])[0]))
except FileNotFoundError:
    pass

events, counts, decided = [], {}, set()


def add(d, code, channel=None, attempt="", **extra):
    ev = {"event_id": "quickstart-%s-%s-%s" % (d["id"], channel or "any", code),
          "debtor_id": d["id"], "outcome": code, "attempted_at": stamp}
    if channel:
        ev["channel"] = channel
    if attempt:
        ev["attempt_id"] = attempt
    ev.update(extra)
    events.append(ev)
    counts[code] = counts.get(code, 0) + 1


for d, channel, attempt in sorted(contacts, key=lambda c: (c[0]["id"], c[1])):
    if channel == "email" and rng.random() < 0.35:
        add(d, "opened", channel, attempt)
        if rng.random() < 0.30:
            add(d, "clicked", channel, attempt)
    if channel == "sms" and rng.random() < 0.08:
        add(d, "replied", channel, attempt)
    if d["id"] in decided:
        continue
    decided.add(d["id"])
    r = rng.random()
    if r < 0.06:
        add(d, "promise_to_pay", channel, attempt, promise_date=promise)
    elif r < 0.10:
        add(d, "paid", channel, attempt, amount=d["balance"])
    elif r < 0.11:
        add(d, "opt_out", channel, attempt)
for d in debtors:
    if rng.random() < 0.01 and d.get("balance") and d["id"] not in decided:
        add(d, "paid", amount=d["balance"])

stored = duplicates = 0
for i in range(0, len(events), 500):
    body = json.dumps({"outcomes": events[i:i + 500]}).encode()
    t = str(int(time.time()))
    sig = hmac.new(key, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    req = urllib.request.Request(url, data=body, headers={
        "Content-Type": "application/json", "Cadenza-Signature": "t=%s,v1=%s" % (t, sig)})
    try:
        answer = json.loads(urllib.request.urlopen(req, timeout=30).read())
    except urllib.error.HTTPError as e:
        sys.exit("outcome API: %d %s" % (e.code, e.read().decode(errors="replace")))
    stored += answer.get("stored", 0)
    duplicates += answer.get("duplicates", 0)

print("%d contacts answered: %d outcomes stored (%s)" % (
    len(contacts), stored, ", ".join("%s %d" % kv for kv in sorted(counts.items())) or "none"))
