#!/bin/sh
# Loop lag while the daemon plans: `cadenza serve` runs the daily campaign
# run of a portfolio inside itself (POST /v1/runs, the run thread and its
# planning threads) while its event loop keeps answering.
#
#   bench/looplag.sh [SIZE]          (default 1000000 debtors)
#
# SIZE debtors from `cadenza sample` are imported into a store of their own
# (KEEP=1 keeps it in $TMPDIR/cz-looplag-SIZE.db for the next time), a
# private redis-server and the daemon (release build, build-release/ or
# BUILD=dir) start, then two phases of the same length are measured:
#
#   baseline: no run, the loop idle but for its timers and the probe;
#   run:      the campaign run of DATE (the first Monday at least two days
#             ahead: every slot of the day is open), from its start to
#             cadenza_run_in_progress 0.
#
# Each phase reports the loop lag two ways: the daemon's own histogram
# (cadenza_loop_lag_seconds, a 50 ms timer's lateness; the p99 of the
# phase's observations, interpolated in its bucket) and a finer probe from
# outside: GET /healthz every 10 ms on a kept-alive connection, the
# round-trip times' p50, p99 and max.  Also the timeline endpoint
# (GET /v1/debtors/{id}, read on the loop) under both.  Target: p99 loop
# lag <= 20 ms during the run.  Fails when the run planned nothing or a
# phase has no samples.  The machine may be shared: run it twice.
set -eu
cd "$(dirname "$0")/.."
n=${1:-1000000}
build=${BUILD:-build-release}
case $build in /*) ;; *) build=$PWD/$build ;; esac
[ -d "$build" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" daemon/cadenza >/dev/null
cz=$build/daemon/cadenza
src=$PWD
tmp=${TMPDIR:-/tmp}
T=$(mktemp -d "$tmp/cz-looplag.XXXXXX")
RPID= SPID=
cleanup() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
    [ -n "$RPID" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wd=$(date -u +%u)
ahead=$(( (8 - wd) % 7 ))
[ "$ahead" -ge 2 ] || ahead=$((ahead + 7))
date=$(date -u -d "+$ahead days" +%Y-%m-%d)

db=$T/cz.db
[ "${KEEP:-0}" = 1 ] && db=$tmp/cz-looplag-$n.db
if [ ! -f "$db" ]; then
    echo "importing $n debtors (due dates around $date)"
    "$cz" sample --debtors "$n" --seed 1 --invalid-rate 0 --as-of "$date" >"$T/d.csv"
    CADENZA_CONFIG=$src/config/cadenza.yaml "$cz" --store "$db" import debtors --quiet \
        "$T/d.csv" >/dev/null
    rm -f "$T/d.csv"
fi
# every new run plans the day afresh
sqlite3 "$db" "DELETE FROM state_transitions; DELETE FROM attempts; DELETE FROM runs;
               DELETE FROM contact_state; DELETE FROM suppressions;"

RPORT=$(port)
HPORT=$(port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$T" \
    --loglevel warning >"$T/redis.log" 2>&1 &
RPID=$!
i=0
until redis-cli -p "$RPORT" PING >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "redis did not start" >&2; exit 1; }
    sleep 0.05
done
cat >"$T/cadenza.yaml" <<EOC
store: $db
redis: { url: "redis://127.0.0.1:$RPORT", timeout: 30 }
http: { listen: "127.0.0.1:$HPORT" }
paths:
  strategies: $src/strategies
  templates: $src/config/templates
  profiles: $src/config/profiles
  holidays: $src/config/holidays
api: { bearer_token_env: CZ_BENCH_TOKEN }
channels:
  email:  { plugin: log, kind: email,  cost: 0.002, settings: { path: $T/sends.log } }
  sms:    { plugin: log, kind: sms,    cost: 0.04, rate_limit: 20, settings: { path: $T/sends.log } }
  bot:    { plugin: log, kind: chat,   cost: 0.01, settings: { path: $T/sends.log } }
  dialer: { plugin: log, kind: call,   cost: 0.60, hourly_capacity: 400, settings: { path: $T/sends.log } }
  letter: { plugin: log, kind: letter, cost: 0.90, settings: { path: $T/sends.log } }
EOC
export CZ_BENCH_TOKEN=looplag-bench-token-0123456789
CADENZA_CONFIG=$T/cadenza.yaml "$cz" serve 2>"$T/serve.err" &
SPID=$!
i=0
until curl -sf "http://127.0.0.1:$HPORT/readyz" >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 600 ] && { echo "serve did not start:" >&2; cat "$T/serve.err" >&2; exit 1; }
    sleep 0.05
done
sleep 2 # the startup job and the first re-plan model build
ids=$(sqlite3 "$db" "SELECT external_id FROM debtors ORDER BY random() LIMIT 200" | tr '\n' ' ')

/usr/bin/python3 - "$HPORT" "$date" "$CZ_BENCH_TOKEN" "$ids" <<'EOP'
import http.client, json, re, sys, time
port, date, token, ids = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].split()

def conn():
    return http.client.HTTPConnection("127.0.0.1", port, timeout=60)

def lag_hist(c):
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    buckets = {}
    for m in re.finditer(r'^cadenza_loop_lag_seconds_bucket\{le="([^"]+)"\} (\d+)$', body, re.M):
        buckets[float(m.group(1)) if m.group(1) != "+Inf" else float("inf")] = int(m.group(2))
    g = lambda name: float(re.search(r'^%s (\S+)$' % name, body, re.M).group(1))
    return buckets, g("cadenza_run_in_progress"), body

def p99_from(b0, b1):
    """p99 of the observations between two scrapes of a cumulative histogram"""
    les = sorted(b1)
    cum = [b1[le] - b0.get(le, 0) for le in les]
    total = cum[-1]
    if total == 0:
        return None, 0
    want = 0.99 * total
    prev_le, prev = 0.0, 0
    for le, c in zip(les, cum):
        if c >= want:
            if le == float("inf"):
                return prev_le, total
            return prev_le + (le - prev_le) * (want - prev) / max(c - prev, 1), total
        prev_le, prev = le, c
    return les[-1], total

def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")

def phase(name, seconds=None, until_done=False):
    probe, mc, tl = conn(), conn(), conn()
    b0, _, _ = lag_hist(mc)
    rtt, tlv = [], []
    t0 = time.monotonic()
    next_metrics = t0 + 0.5
    k = 0
    while True:
        s = time.monotonic()
        probe.request("GET", "/healthz")
        probe.getresponse().read()
        rtt.append(time.monotonic() - s)
        if k % 20 == 0:  # the timeline of a random debtor, every 200 ms
            s = time.monotonic()
            tl.request("GET", "/v1/debtors/" + ids[(k // 20) % len(ids)],
                       headers={"Authorization": "Bearer " + token})
            r = tl.getresponse()
            r.read()
            if r.status != 200:
                sys.exit("timeline: %d" % r.status)
            tlv.append(time.monotonic() - s)
        k += 1
        now = time.monotonic()
        if seconds is not None and now - t0 >= seconds:
            break
        if until_done and now >= next_metrics:
            next_metrics = now + 0.5
            _, busy, _ = lag_hist(mc)
            if busy == 0 and now - t0 > 1:
                break
        time.sleep(max(0.0, 0.010 - (time.monotonic() - s)))
    b1, _, body = lag_hist(mc)
    p99, nlag = p99_from(b0, b1)
    el = time.monotonic() - t0
    if nlag == 0 or not rtt:
        sys.exit("%s: no samples" % name)
    return dict(name=name, secs=el, lag_p99=p99, nlag=nlag, rtt=rtt, tl=tlv, body=body)

base = phase("baseline", seconds=15)
c = conn()
c.request("POST", "/v1/runs", body=json.dumps({"date": date}),
          headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
r = c.getresponse()
if r.status != 202:
    sys.exit("POST /v1/runs: %d %s" % (r.status, r.read()))
r.read()
run = phase("run", until_done=True)
planned = sum(int(float(x)) for x in re.findall(r'^cadenza_planned_total\{[^}]*\} (\S+)$', run["body"], re.M))
enq = sum(int(float(x)) for x in re.findall(r'^cadenza_enqueued_total\{[^}]*\} (\S+)$', run["body"], re.M))
done = re.search(r'^cadenza_runs_total\{result="done"\} (\S+)$', run["body"], re.M).group(1)
ms = lambda x: x * 1000
print("run of %s: %.1f s, %d contacts planned, %d jobs enqueued (runs done: %s)"
      % (date, run["secs"], planned, enq, done))
print("%-9s %8s %14s %10s %10s %10s %12s %12s" % ("phase", "seconds", "loop lag p99", "probes",
      "rtt p50", "rtt p99", "rtt max", "timeline p99"))
for p in (base, run):
    print("%-9s %8.1f %11.2f ms %10d %7.2f ms %7.2f ms %9.2f ms %9.2f ms"
          % (p["name"], p["secs"], ms(p["lag_p99"]), len(p["rtt"]), ms(pct(p["rtt"], 0.5)),
             ms(pct(p["rtt"], 0.99)), ms(max(p["rtt"])), ms(pct(p["tl"], 0.99))))
print("ratio run/baseline: loop lag p99 %.2f, probe p99 %.2f"
      % (run["lag_p99"] / max(base["lag_p99"], 1e-6), pct(run["rtt"], 0.99) / pct(base["rtt"], 0.99)))
print("target: loop lag p99 <= 20 ms during the run: %s"
      % ("met" if run["lag_p99"] <= 0.020 else "NOT met"))
if planned == 0:
    sys.exit("the run planned nothing: nothing was measured")
if done != "1":
    sys.exit("the run did not end done (runs_total done = %s)" % done)
EOP
grep -E "campaign run .* (done|stopped|failed)" "$T/serve.err" | sed 's/^/daemon: /'
