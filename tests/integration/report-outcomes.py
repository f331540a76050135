#!/usr/bin/python3
# Outcomes for the attempts of a store, as `cadenza import outcomes` reads
# them (CSV on stdout), from a seeded generator: the tests of `cadenza
# report` (report.sh, report-browser.sh) build their history with it.
#
#   report-outcomes.py STORE
#
# One attempt in ten gets nothing (never sent, as far as the store knows);
# the others are delivered (a call: answered) 92 % of the time, then reach
# someone (opened; a call: the debtor) with probability 0.35, or 0.75 for
# the bot-early challenger of early-us-uk; half of those reply (a call: has
# spoken already), half of those promise, 60 % of promises are paid, and
# 2 % of the delivered opt out.  Every row names its attempt by
# idempotency key.
import csv, datetime, random, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rnd = random.Random(5)
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["debtor_id", "channel", "attempted_at", "outcome", "amount", "promise_date",
            "idempotency_key"])
kinds = ["email", "sms", "chat", "call", "letter"]
ts = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
for ext, kind, at, key, variant in db.execute(
        "SELECT d.external_id, a.channel_kind, a.scheduled_at, a.idempotency_key, a.variant"
        " FROM attempts a JOIN debtors d ON d.id = a.debtor_id ORDER BY a.id"):
    if rnd.random() < 0.1:
        continue                      # never heard of: not an attempt made
    p = 0.75 if variant == "bot-early" else 0.35
    call = kinds[kind] == "call"
    if rnd.random() < 0.08:
        out = ["no_answer" if call else "bounced"]
    else:
        reached = rnd.random() < p
        if call:
            out = ["right_party" if reached else "third_party"]
        else:
            out = ["delivered"] + (["opened"] if reached else [])
        if reached and rnd.random() < 0.5:
            if not call:
                out.append("replied")
            if rnd.random() < 0.5:
                out.append("promise_to_pay")
        if rnd.random() < 0.02:
            out.append("opt_out")
    for i, o in enumerate(out):
        pd = ""
        if o == "promise_to_pay":
            pd = datetime.datetime.fromtimestamp(at + 4 * 86400, datetime.timezone.utc).strftime("%Y-%m-%d")
        w.writerow([ext, kinds[kind], ts(at + 60 * (i + 1)), o, "", pd, key])
        if o == "promise_to_pay" and rnd.random() < 0.6:
            w.writerow([ext, "", ts(at + rnd.randrange(3600, 6 * 86400)), "paid",
                        "%d.%02d" % (rnd.randrange(10, 400), rnd.randrange(100)), "", key])
