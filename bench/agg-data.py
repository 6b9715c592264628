#!/usr/bin/env python3
"""bench/agg's data and checks: makes the seeded datasets and checks every tool's output against
an aggregation computed here, independently of the tools measured.

  agg-data.py gen --records N --keys K --seed S > data.jsonl
      N records {"sensor":"st-0042","ts":EPOCH_MS,"value":INT,"status":"ok"}: K sensors, each
      reporting about every 10 s from 2026-01-01T00:00:00Z on (so K/10 records per simulated
      second), each record up to 2 minutes late (out of order, within any grace >= 2m).
  agg-data.py gen-state --keys S --seed S > state.jsonl
      S records of S distinct sensors, all in the window [2026-01-01T00:00, 00:05): S open windows.
  agg-data.py closers --count C > closers.jsonl
      C records 16 minutes later (sensors closer-00...): past the end of that window plus a
      10-minute grace in every partition they reach.
  agg-data.py check --data FILE [--data FILE...] [--partitions MAP] [--window-ms MS] [--grace-ms MS]
                    NAME=FILE...
      The reference: count, sum and avg of value per (sensor, tumbling window of ts). Without
      --partitions every group is expected; with it (lines "KEY PARTITION", the input topic's
      layout) only the windows closed in their partition: window end <= the partition's largest
      ts - grace, which is what a final-results aggregation emits from Kafka with -e. Each
      output (JSON lines; or "KEY<TAB>JSON" lines, when the message key must equal the sensor)
      must hold exactly the expected groups, once each, with equal counts and sums and averages
      within 1e-9 relative. window_start may be ISO-8601 or epoch seconds; Miller's
      value_count, value_sum and value_mean stand for count, sum and avg. One line per output:
      "NAME<TAB>ok<TAB>what" or "NAME<TAB>DIFFERS<TAB>what"; exit 1 when one differs.
"""
import argparse
import json
import random
import sys
from datetime import datetime

T0_MS = 1767225600000  # 2026-01-01T00:00:00Z


def key_format(keys):
    return "st-%0" + str(max(4, len(str(keys - 1)))) + "d"


def gen(args):
    r = random.Random(args.seed)
    fmt = key_format(args.keys)
    step_ms = 10_000 / args.keys  # each sensor about every 10 s
    out = sys.stdout
    lines = []
    for i in range(args.records):
        ts = T0_MS + int(i * step_ms) - int(r.random() * 120_000)
        sensor = fmt % int(r.random() * args.keys)
        value = int(r.random() * 10_000)
        status = "warn" if r.random() < 0.05 else "ok"
        lines.append('{"sensor":"%s","ts":%d,"value":%d,"status":"%s"}\n' % (sensor, ts, value, status))
        if len(lines) >= 65536:
            out.write("".join(lines))
            lines = []
    out.write("".join(lines))


def gen_state(args):
    r = random.Random(args.seed)
    fmt = key_format(args.keys)
    out = []
    for k in range(args.keys):
        out.append('{"sensor":"%s","ts":%d,"value":%d,"status":"ok"}\n'
                   % (fmt % k, T0_MS + int(r.random() * 300_000), int(r.random() * 10_000)))
    sys.stdout.write("".join(out))


def closers(args):
    for c in range(args.count):
        sys.stdout.write('{"sensor":"closer-%02d","ts":%d,"value":1,"status":"ok"}\n' % (c, T0_MS + 960_000 + c))


def window_start_s(v):
    if isinstance(v, (int, float)):
        return int(v)
    return int(datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp())


def check(args):
    win = args.window_ms
    ref = {}  # (sensor, window start s) -> [count, sum]
    max_ts = {}  # sensor -> largest ts
    for path in args.data:
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                key = (rec["sensor"], rec["ts"] // win * win // 1000)
                a = ref.get(key)
                if a is None:
                    ref[key] = [1, rec["value"]]
                else:
                    a[0] += 1
                    a[1] += rec["value"]
                if rec["ts"] > max_ts.get(rec["sensor"], -1):
                    max_ts[rec["sensor"]] = rec["ts"]
    scope = "every group"
    if args.partitions:
        part = {}
        with open(args.partitions) as f:
            for line in f:
                k, p = line.split()
                if part.setdefault(k, p) != p:
                    print("partition map: key %s in partitions %s and %s" % (k, part[k], p), file=sys.stderr)
                    return 2
        missing = [s for s in max_ts if s not in part]
        if missing:
            print("partition map: %d sensors of the data are not in it (e.g. %s)" % (len(missing), missing[0]), file=sys.stderr)
            return 2
        watermark = {}
        for s, t in max_ts.items():
            watermark[part[s]] = max(watermark.get(part[s], -1), t - args.grace_ms)
        ref = {k: v for k, v in ref.items() if (k[1] * 1000 + win) <= watermark[part[k[0]]]}
        scope = "the windows closed in their partition (end <= the partition's largest ts - grace)"
    bad = 0
    for spec in args.outputs:
        name, _, path = spec.partition("=")
        seen = {}
        problems = []
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line:
                    continue
                msg_key = None
                if "\t" in line and not line.startswith("{"):
                    msg_key, line = line.split("\t", 1)
                try:
                    rec = json.loads(line)
                    key = (rec["sensor"], window_start_s(rec["window_start"]))
                    got = (rec.get("count", rec.get("value_count")), rec.get("sum", rec.get("value_sum")),
                           rec.get("avg", rec.get("value_mean")))
                except (ValueError, KeyError, TypeError) as e:
                    problems.append("line %d is not an aggregate record (%s): %.120s" % (n, e, line))
                    continue
                if msg_key is not None and msg_key != rec["sensor"]:
                    problems.append("line %d: message key %r is not the sensor %r" % (n, msg_key, rec["sensor"]))
                if key in seen:
                    problems.append("group %s window %d emitted twice" % key)
                seen[key] = got
        extra = [k for k in seen if k not in ref]
        missing = [k for k in ref if k not in seen]
        if extra:
            problems.append("%d group(s) not expected, e.g. %s window %d" % ((len(extra),) + extra[0]))
        if missing:
            problems.append("%d group(s) missing, e.g. %s window %d" % ((len(missing),) + missing[0]))
        wrong = 0
        for k, (c, s, a) in seen.items():
            want = ref.get(k)
            if want is None:
                continue
            want_avg = want[1] / want[0]
            ok = (c == want[0] and s == want[1] and isinstance(a, (int, float))
                  and abs(a - want_avg) <= 1e-9 * max(abs(a), abs(want_avg), 1e-300))
            if not ok:
                wrong += 1
                if wrong == 1:
                    problems.append("%s window %d: count %s sum %s avg %s, expected %d %d %.17g"
                                    % (k[0], k[1], c, s, a, want[0], want[1], want_avg))
        if wrong > 1:
            problems.append("%d group(s) with wrong values in all" % wrong)
        if problems:
            bad += 1
            print("%s\tDIFFERS\t%s" % (name, "; ".join(problems[:4])))
        else:
            print("%s\tok\t%d groups, equal to the reference (%s)" % (name, len(seen), scope))
    return 1 if bad else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--records", type=int, required=True)
    g.add_argument("--keys", type=int, required=True)
    g.add_argument("--seed", type=int, default=1)
    s = sub.add_parser("gen-state")
    s.add_argument("--keys", type=int, required=True)
    s.add_argument("--seed", type=int, default=1)
    c = sub.add_parser("closers")
    c.add_argument("--count", type=int, default=64)
    k = sub.add_parser("check")
    k.add_argument("--data", action="append", required=True)
    k.add_argument("--partitions")
    k.add_argument("--window-ms", type=int, default=300_000)
    k.add_argument("--grace-ms", type=int, default=600_000)
    k.add_argument("outputs", nargs="+", metavar="NAME=FILE")
    args = p.parse_args()
    return {"gen": gen, "gen-state": gen_state, "closers": closers, "check": check}[args.cmd](args) or 0


if __name__ == "__main__":
    sys.exit(main())
