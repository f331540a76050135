"""The workers' results stream, one line per entry: "ATTEMPT STATUS INFO".

    redis-cli --json XRANGE cz:results - + | python3 results.py [--latest]

--latest: the last entry of each attempt only, by attempt id.  Line
breaks in INFO become spaces.
"""
import json
import sys

entries = json.load(sys.stdin) or []
rows = []
for _, fields in entries:
    f = dict(zip(fields[0::2], fields[1::2]))
    rows.append((f.get("id", "?"), f.get("st", "?"), f.get("info", "").replace("\n", " ")))
if "--latest" in sys.argv[1:]:
    latest = {}
    for r in rows:
        latest[r[0]] = r
    rows = [latest[k] for k in sorted(latest, key=lambda k: (len(k), k))]
for r in rows:
    print(" ".join(r))
