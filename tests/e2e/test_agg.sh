#!/usr/bin/env bash
# kstream-agg on files and pipes (no broker): tumbling, hopping, session and none windows with
# --grace over a few thousand seeded records with out-of-order times, several group fields and
# every aggregate, checked exactly against a python3 oracle that replays the same input (stddev to
# 1e-9 of a two-pass computation, p50/p95/p99 within their 1% bound); --emit update, --having,
# late records under each --on-error mode, ISO-8601 / epoch-ms / epoch-s times, bad records.
source "$(dirname "$0")/lib.sh"

GROUP='city, kind, x > 0 as pos'
AGGS='n=count(), nv=count(v), sv=sum(v), sx=sum(x), av=avg(v), ax=avg(x), mn=min(v), mx=max(s), f=first(s), l=last(v), cd=count_distinct(s), sd=stddev(x), q50=p50(x), q95=p95(x), q99=p99(v)'
agg() { kstream-agg --group-by "$GROUP" --agg "$AGGS" "$@"; }

cat > "$SCRATCH/oracle.py" <<'PY'
"""Generates the input and replays kstream-agg's semantics on it, independently of the tool:
watermark = max event time seen - grace (one stream), windows [start, end) aligned to the epoch,
a record whose windows are all closed is late, windows close when the watermark reaches their
end; sessions merge every open session of the group that overlaps [t, t + gap)."""
import json, math, random, sys
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from fractions import Fraction

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
AGG_FIELDS = ["n", "nv", "sv", "sx", "av", "ax", "mn", "mx", "f", "l", "cd", "sd", "q50", "q95", "q99"]
GROUP_FIELDS = ["city", "kind", "pos"]


def iso(ms):
    t = EPOCH + timedelta(milliseconds=ms)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (".%03dZ" % (ms % 1000) if ms % 1000 else "Z")


def generate(seed, count, prefix):
    rnd = random.Random(seed)
    cities = ["Paris", "Lyon", "Saint-Étienne", "New York", "Zürich"]
    labels = ["alpha", "alp", "beta", "gamma", "delta", "épsilon", "Zeta"]
    now = 1_700_000_000_000
    rows = []
    for _ in range(count):
        now += rnd.randint(0, 400)
        r = rnd.random()
        ts = now - rnd.randint(20_000, 60_000) if r < 0.02 else now - rnd.randint(0, 8_000) if r < 0.35 else now
        row = OrderedDict(ts=ts, city=rnd.choice(cities), kind=rnd.randint(0, 2))
        u = rnd.random()
        if u < 0.05:
            row["v"] = None
        elif u >= 0.08:  # 3% have no v at all
            row["v"] = rnd.randint(-100, 100)
        row["x"] = rnd.randint(-4000, 4000) / 8  # eighths: every sum is exact, in any order
        row["s"] = None if rnd.random() < 0.05 else rnd.choice(labels)
        rows.append(row)
    dump = lambda row: json.dumps(row, ensure_ascii=False, separators=(",", ":"))
    with open(prefix + "-ms.jsonl", "w") as out:
        for row in rows:
            out.write(dump(row) + "\n")
    # The same times as ISO-8601 (UTC or with an offset) and as epoch seconds with a fraction.
    offsets = [timedelta(0), timedelta(hours=2), timedelta(hours=-5, minutes=-30)]
    with open(prefix + "-iso.jsonl", "w") as out:
        for k, row in enumerate(rows):
            off = offsets[k % 3]
            local = EPOCH + timedelta(milliseconds=row["ts"]) + off
            text = local.strftime("%Y-%m-%dT%H:%M:%S") + ".%03d" % (row["ts"] % 1000)
            if off == timedelta(0):
                text += "Z"
            else:
                sign = "+" if off > timedelta(0) else "-"
                minutes = abs(int(off.total_seconds())) // 60
                text += "%s%02d:%02d" % (sign, minutes // 60, minutes % 60)
            out.write(dump(OrderedDict(row, ts=text)) + "\n")
    with open(prefix + "-s.jsonl", "w") as out:
        for row in rows:
            seconds = "%d.%03d" % (row["ts"] // 1000, row["ts"] % 1000)
            assert math.floor(float(seconds) * 1000) == row["ts"]
            out.write(dump(row).replace('"ts":%d' % row["ts"], '"ts":' + seconds, 1) + "\n")


def read_input(path):
    """(line number, line text, record, event time ms) of the good records; line numbers of bad ones."""
    good, bad = [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                bad.append(number)
                continue
            if not isinstance(rec, dict) or not isinstance(rec.get("ts"), int) or isinstance(rec.get("ts"), bool):
                bad.append(number)  # every test input uses epoch ms here; anything else is a bad record
                continue
            if any(isinstance(rec.get(k), (str, bool)) for k in ("v", "x")):
                bad.append(number)  # sum/avg/stddev/p* need numbers
                continue
            t = rec["ts"] if abs(rec["ts"]) >= 10**11 else rec["ts"] * 1000
            good.append((number, line, rec, t))
    return good, bad


def group_of(rec):
    x = rec.get("x")
    return (rec.get("city"), rec.get("kind"), None if x is None else x > 0)


def simulate(good, window, grace, stop_at_late=False):
    """Replays the stream. Returns (windows: list of (start, end, group, records)), closed count,
    late records, and the windows closed before the first late record."""
    kind, _, arg = window.partition(":")
    size = advance = gap = None
    if kind == "tumbling":
        size = advance = duration(arg)
    elif kind == "hopping":
        a, b = arg.split(",")
        size, advance = duration(a), duration(b)
    elif kind == "session":
        gap = duration(arg)
    max_event = None
    open_windows = {}  # (group, start) -> [start, end, records]; dicts keep insertion order
    sessions = {}      # group -> list of open session keys
    done, late = [], []
    for item in good:
        number, line, rec, t = item
        g = group_of(rec)
        wm = None if max_event is None else max_event - grace
        if kind == "none":
            open_windows.setdefault((g, 0), [0, 0, []])[2].append(item)
        elif kind in ("tumbling", "hopping"):
            starts = range((t // advance) * advance, t - size, -advance)
            accepted = [s for s in starts if wm is None or s + size > wm]
            if not accepted:
                late.append((number, line, t, wm))
                if stop_at_late:
                    return done, late
                continue
            for s in sorted(accepted):
                open_windows.setdefault((g, s), [s, s + size, []])[2].append(item)
        else:
            keys = sessions.setdefault(g, [])
            overlapping = [k for k in keys if open_windows[k][0] < t + gap and open_windows[k][1] > t]
            if not overlapping and wm is not None and t + gap <= wm:
                late.append((number, line, t, wm))
                if stop_at_late:
                    return done, late
                continue
            start, end, records = t, t + gap, []
            for k in overlapping:
                s, e, rs = open_windows.pop(k)
                keys.remove(k)
                start, end = min(start, s), max(end, e)
                records += rs
            records.append(item)
            records.sort(key=lambda it: it[0])  # arrival order (line numbers)
            open_windows[(g, start)] = [start, end, records]
            keys.append((g, start))
        if kind != "none" and (max_event is None or t > max_event):
            max_event = t
            wm = max_event - grace
            for k in [k for k, w in open_windows.items() if w[1] <= wm]:
                s, e, rs = open_windows.pop(k)
                done.append((s, e, k[0], rs))
                if kind == "session":
                    sessions[k[0]].remove(k)
    closed = len(done)
    everything = done + [(w[0], w[1], k[0], w[2]) for k, w in open_windows.items()]
    return everything, closed, late


def duration(text):
    for unit, scale in (("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)):
        if text.endswith(unit) and text[: -len(unit)].isdigit():
            return int(text[: -len(unit)]) * scale
    return int(text) * 1000


def exact_quantile(values, q):
    values = sorted(values)
    return values[math.floor(q * (len(values) - 1))]


def aggregates(records):
    """The expected aggregates of one window, from its records in arrival order. Quantiles and
    stddev are exact here (checked with their bounds); everything else must match exactly."""
    recs = [r[2] for r in records]
    times = [r[3] for r in records]
    vs = [r.get("v") for r in recs if r.get("v") is not None]
    xs = [r["x"] for r in recs if r.get("x") is not None]
    ss = [(t, k, r["s"]) for k, (t, r) in enumerate(zip(times, recs)) if r.get("s") is not None]
    ls = [(t, k, r["v"]) for k, (t, r) in enumerate(zip(times, recs)) if r.get("v") is not None]
    out = OrderedDict()
    out["n"] = len(recs)
    out["nv"] = len(vs)
    out["sv"] = sum(vs) if vs else None
    out["sx"] = float(sum(Fraction(x) for x in xs)) if xs else None
    out["av"] = float(Fraction(sum(vs), len(vs))) if vs else None
    out["ax"] = float(sum(Fraction(x) for x in xs) / len(xs)) if xs else None
    out["mn"] = min(vs) if vs else None
    out["mx"] = max(s for _, _, s in ss) if ss else None
    out["f"] = min(ss, key=lambda e: (e[0], e[1]))[2] if ss else None        # earliest time, first arrived
    out["l"] = max(ls, key=lambda e: (e[0], e[1]))[2] if ls else None        # latest time, last arrived
    out["cd"] = len({s for _, _, s in ss})
    if len(xs) >= 2:
        mean = sum(Fraction(x) for x in xs) / len(xs)
        out["sd"] = math.sqrt(float(sum((Fraction(x) - mean) ** 2 for x in xs) / (len(xs) - 1)))
    else:
        out["sd"] = None
    out["q50"] = exact_quantile(xs, 0.5) if xs else None
    out["q95"] = exact_quantile(xs, 0.95) if xs else None
    out["q99"] = exact_quantile(vs, 0.99) if vs else None
    return out


def expected_results(windows, window_kind, having):
    results = {}
    for start, end, g, records in windows:
        row = OrderedDict()
        if window_kind != "none":
            row["window_start"], row["window_end"] = iso(start), iso(end)
        for name, value in zip(GROUP_FIELDS, g):
            row[name] = value
        row.update(aggregates(records))
        if having and not (row["n"] >= 3 and row["sv"] is not None and row["sv"] > 0):
            continue
        results[key_of(row)] = row
    return results


def key_of(row):
    return (row.get("window_start"), row.get("window_end")) + tuple(json.dumps(row[k]) for k in GROUP_FIELDS)


def same(name, want, got):
    if name in ("q50", "q95", "q99"):
        if want is None or got is None:
            return want is got
        return abs(got - want) <= 0.01 * abs(want)
    if name == "sd":
        if want is None or got is None:
            return want is got
        return abs(got - want) <= 1e-9 * max(abs(want), 1e-300)
    if name in ("n", "nv", "sv", "cd", "mn", "l") and want is not None:
        return type(got) is int and got == want  # integers stay integers
    if name in ("sx", "av", "ax") and want is not None:
        return isinstance(got, (int, float)) and not isinstance(got, bool) and float(got) == want
    return type(got) is type(want) and got == want


def compare(expected, output_path, window_kind, update):
    problems = []
    got = {}
    lines = 0
    with open(output_path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            lines += 1
            try:
                row = json.loads(line, object_pairs_hook=OrderedDict)
            except ValueError:
                problems.append("not JSON: %r" % line)
                continue
            names = list(row.keys())
            want_names = (["window_start", "window_end"] if window_kind != "none" else []) + GROUP_FIELDS + AGG_FIELDS
            if names != want_names:
                problems.append("fields %s, expected %s" % (names, want_names))
            k = key_of(row)
            if k in got and not update:
                problems.append("emitted twice: %s" % (k,))
            got[k] = row  # with --emit update the last line of a group and window counts
    for k in sorted(set(expected) - set(got), key=str)[:5]:
        problems.append("missing: %s" % (k,))
    for k in sorted(set(got) - set(expected), key=str)[:5]:
        problems.append("unexpected: %s" % (json.dumps(got[k], ensure_ascii=False),))
    for k in sorted(set(expected) & set(got), key=str):
        for name, want in expected[k].items():
            if not same(name, want, got[k].get(name)):
                problems.append("%s %s: expected %r, got %r" % (k, name, want, got[k].get(name)))
    return problems, lines, len(got)


def main():
    command = sys.argv[1]
    if command == "generate":
        generate(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
        return
    if command == "check":
        # check INPUT OUTPUT WINDOW GRACE_MS [having] [update] [arrival]: prints "ok N late L closed C" or the problems
        inp, output, window, grace = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
        flags = sys.argv[6:]
        good, _ = read_input(inp)
        if "arrival" in flags:  # the event time is the arrival time: increasing in input order
            good = [(number, line, rec, number) for number, line, rec, _ in good]
        windows, closed, late = simulate(good, window, grace)
        kind = window.partition(":")[0]
        expected = expected_results(windows, kind, "having" in flags)
        problems, lines, keys = compare(expected, output, kind, "update" in flags)
        if problems:
            print("%d problems, e.g.\n%s" % (len(problems), "\n".join(problems[:10])))
        else:
            print("ok %d late %d closed %d lines %d" % (len(expected), len(late), closed, lines))
        return
    if command == "late":
        # late INPUT WINDOW GRACE_MS SOURCE: the dead-letter envelopes of the late records, as the tool writes them
        inp, window, grace, source = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
        good, _ = read_input(inp)
        _, _, late = simulate(good, window, grace)
        for number, line, t, wm in late:
            reason = ("late record: its event time %s is behind the watermark %s (max event time minus --grace): "
                      "its window is closed" % (iso(t), iso(wm)))
            print(json.dumps(OrderedDict(reason=reason, tool="kstream-agg", source=source, line=number, data=line),
                             ensure_ascii=False, separators=(",", ":")))
        return
    if command == "first-late":
        # first-late INPUT WINDOW GRACE_MS OUTPUT: the first late record's message; checks that OUTPUT
        # holds exactly the windows closed before it
        inp, window, grace, output = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
        good, _ = read_input(inp)
        done, late = simulate(good, window, grace, stop_at_late=True)
        number, line, t, wm = late[0]
        expected = expected_results(done, window.partition(":")[0], False)
        problems, _, _ = compare(expected, output, window.partition(":")[0], False)
        print("%d: late record: its event time %s is behind the watermark %s (max event time minus --grace): its "
              "window is closed (--on-error skip or dead-letter to go on)" % (number, iso(t), iso(wm)))
        print("ok %d" % len(expected) if not problems else "; ".join(problems[:5]))
        return
    raise SystemExit("unknown command " + command)


main()
PY
oracle() { python3 "$SCRATCH/oracle.py" "$@"; }

oracle generate 20240610 3000 "$SCRATCH/data"
DATA="$SCRATCH/data-ms.jsonl"

# An oracle check: "ok N late L closed C lines K" (N results), else the differences.
check() {  # message input output window grace-ms [having] [update]
  local message=$1
  shift
  CHECKED=$(oracle check "$@")
  if [[ $CHECKED == ok* ]]; then ok; else fail "$message: $CHECKED"; fi
}
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' <<<"$CHECKED"; }

# --- each kind of window, with --grace: exact results, late records counted ---------------------
for spec in "tumbling:10s 5000" "hopping:20s,5s 5000" "hopping:10s,3s 4000" "session:3s 2000" "none 0"; do
  read -r window grace_ms <<<"$spec"
  grace=$( ((grace_ms)) && echo "${grace_ms}ms" || echo 0)
  run agg -i "$DATA" --window "$window" --grace "$grace" --time-field ts --on-error skip --stats
  assert_eq 0 "$RC" "$window: exit code ($ERR)"
  printf '%s\n' "$OUT" > "$SCRATCH/out-$window"
  check "$window: results" "$DATA" "$SCRATCH/out-$window" "$window" "$grace_ms"
  assert_eq "$(field late)" "$(stat late "$ERR")" "$window: late records in --stats"
  assert_eq "$(field closed)" "$(stat windows_closed "$ERR")" "$window: windows closed by the watermark in --stats"
  assert_eq "$(field ok)" "$(stat records_out "$ERR")" "$window: records_out in --stats"
  assert_eq "$(field late)" "$(stat bad "$ERR")" "$window: no bad records but the late ones (counted in bad too)"
  assert_eq 3000 "$(stat records_in "$ERR")" "$window: records_in"
  case $window in
    none) assert_eq 0 "$(field late)" "none: no record is late" ;;
    *) assert_between 20 1000 "$(field late)" "$window: the input has late records" ;;
  esac
done
# The data makes the cases worth having: many sessions, many windows.
assert_at_least 100 "$(wc -l < "$SCRATCH/out-session:3s")" "session: many sessions"

# --- boundaries by hand: a time at a window's end, before the epoch; sessions exactly a gap apart,
# and out-of-order records that bridge sessions -------------------------------------------------------
printf '%s\n' '{"t":-1,"g":"a","v":1}' '{"t":0,"g":"a","v":2}' '{"t":9,"g":"a","v":3}' '{"t":10,"g":"a","v":4}' > "$SCRATCH/edges.jsonl"
run kstream-agg -i "$SCRATCH/edges.jsonl" --group-by g --agg 'n=count(), s=sum(v)' --window tumbling:10s --time-field t
assert_eq "$(printf '%s\n' \
  '{"window_start":"1969-12-31T23:59:50Z","window_end":"1970-01-01T00:00:00Z","g":"a","n":1,"s":1}' \
  '{"window_start":"1970-01-01T00:00:00Z","window_end":"1970-01-01T00:00:10Z","g":"a","n":2,"s":5}' \
  '{"window_start":"1970-01-01T00:00:10Z","window_end":"1970-01-01T00:00:20Z","g":"a","n":1,"s":4}')" "$OUT" \
  "tumbling edges: [start, end), floored before the epoch, emitted as they close"
printf '%s\n' '{"t":0,"g":"a","v":1}' '{"t":3,"g":"a","v":2}' '{"t":10,"g":"a","v":3}' '{"t":8,"g":"a","v":4}' \
  '{"t":1,"g":"b","v":10}' '{"t":5,"g":"a","v":5}' '{"t":7,"g":"a","v":6}' > "$SCRATCH/sessions.jsonl"
run kstream-agg -i "$SCRATCH/sessions.jsonl" --group-by g --agg 'n=count(), s=sum(v), f=first(v), l=last(v)' --window session:3s \
  --grace 10s --time-field t --stats
assert_eq "$(printf '%s\n' \
  '{"window_start":"1970-01-01T00:00:00Z","window_end":"1970-01-01T00:00:03Z","g":"a","n":1,"s":1,"f":1,"l":1}' \
  '{"window_start":"1970-01-01T00:00:01Z","window_end":"1970-01-01T00:00:04Z","g":"b","n":1,"s":10,"f":10,"l":10}' \
  '{"window_start":"1970-01-01T00:00:03Z","window_end":"1970-01-01T00:00:13Z","g":"a","n":5,"s":20,"f":2,"l":3}')" \
  "$(sort <<<"$OUT")" "sessions: a record exactly a gap later starts a new one; bridging records merge sessions"
assert_eq 0 "$(stat late "$ERR")" "sessions by hand: nothing late"

# --window none without a time: the event time is the arrival time (in input order), so first and
# last are the first and the last value to arrive; the rest is as before.
run agg -i "$DATA" --window none --on-error fail
assert_eq 0 "$RC" "none without a time field: exit code ($ERR)"
printf '%s\n' "$OUT" > "$SCRATCH/out-none-arrival"
check "none, arrival time: results" "$DATA" "$SCRATCH/out-none-arrival" none 0 arrival
# The same on a larger input, read in batches by several threads: arrival times must follow the
# input order (3 runs, a batch mapped early must not take earlier times than the one before it).
python3 -c '
import sys
with open(sys.argv[1], "w") as f:
    for i in range(200000):
        f.write("{\"id\":%d,\"g\":%d,\"pad\":\"%s\"}\n" % (i, i % 3, "x" * 40))
' "$SCRATCH/ids.jsonl"
for attempt in 1 2 3; do
  run kstream-agg -i "$SCRATCH/ids.jsonl" --group-by g --agg 'n=count(), f=first(id), l=last(id)'
  assert_eq "$(printf '%s\n' '{"g":0,"n":66667,"f":0,"l":199998}' '{"g":1,"n":66667,"f":1,"l":199999}' '{"g":2,"n":66666,"f":2,"l":199997}')" \
    "$(sort <<<"$OUT")" "arrival time in input order: first and last, run $attempt"
done
run kstream-agg -i "$SCRATCH/ids.jsonl" --group-by g --agg 'n=count()' --window tumbling:10ms --on-error skip --stats
assert_eq 0 "$(stat late "$ERR")" "arrival time in input order: no record is late with no --grace"

# --- standard input, one file, two files: the same stream ----------------------------------------
run agg --window tumbling:10s --grace 5s --time-field ts --on-error skip < "$DATA"
assert_eq 0 "$RC" "stdin: exit code ($ERR)"
assert_eq "$(sort "$SCRATCH/out-tumbling:10s")" "$(sort <<<"$OUT")" "stdin: the same results as the file"
head -1234 "$DATA" > "$SCRATCH/part1.jsonl"
tail -n +1235 "$DATA" > "$SCRATCH/part2.jsonl"
run agg -i "$SCRATCH/part1.jsonl" -i "$SCRATCH/part2.jsonl" --window tumbling:10s --grace 5s --time-field ts --on-error skip -o "$SCRATCH/two.jsonl"
assert_eq 0 "$RC" "two files: exit code ($ERR)"
assert_eq "" "$OUT" "-o FILE: nothing on stdout"
assert_eq "$(sort "$SCRATCH/out-tumbling:10s")" "$(sort "$SCRATCH/two.jsonl")" "two files: one stream, the same results"
run agg -i - --window session:3s --grace 2s --time-field ts --on-error skip < "$DATA"
assert_eq "$(sort "$SCRATCH/out-session:3s")" "$(sort <<<"$OUT")" "-i -: sessions from stdin"

# --- event times as ISO-8601 (with offsets) and as epoch seconds: the same windows ---------------
for variant in iso s; do
  for spec in "tumbling:10s 5s" "session:3s 2s"; do
    read -r window grace <<<"$spec"
    run agg -i "$SCRATCH/data-$variant.jsonl" --window "$window" --grace "$grace" --time-field ts --on-error skip --stats
    assert_eq 0 "$RC" "$variant times, $window: exit code ($ERR)"
    assert_eq "$(stat late "$ERR")" "$(stat bad "$ERR")" "$variant times, $window: every time parsed (bad = late)"
    assert_eq "$(sort "$SCRATCH/out-$window")" "$(sort <<<"$OUT")" "$variant times, $window: the same results as epoch ms"
  done
done
# --time EXPR computes the same time.
run agg -i "$SCRATCH/data-iso.jsonl" --window tumbling:10s --grace 5s --time 'parse_time(ts)' --on-error skip
assert_eq "$(sort "$SCRATCH/out-tumbling:10s")" "$(sort <<<"$OUT")" "--time EXPR: the same results"

# --- --having filters the results -----------------------------------------------------------------
run agg -i "$DATA" --window tumbling:10s --grace 5s --time-field ts --on-error skip --having 'n >= 3 and sv > 0' --stats
assert_eq 0 "$RC" "having: exit code ($ERR)"
printf '%s\n' "$OUT" > "$SCRATCH/out-having"
check "having: results" "$DATA" "$SCRATCH/out-having" tumbling:10s 5000 having
assert_at_least 10 "$(field ok)" "having: some results kept"
assert_between 1 "$(( $(wc -l < "$SCRATCH/out-tumbling:10s") - 1 ))" "$(field ok)" "having: some results dropped"

# --- --emit update: from a pipe that pauses, changed groups each time; the last line of each
# group and window is its final result ------------------------------------------------------------
emit_slowly() {  # writes the input in 8 chunks with pauses, so the tool flushes in between
  python3 -c '
import sys, time
lines = open(sys.argv[1]).readlines()
step = len(lines) // 8 + 1
for k in range(0, len(lines), step):
    sys.stdout.write("".join(lines[k:k + step]))
    sys.stdout.flush()
    time.sleep(0.3)
' "$1"
}
# Session windows merge: an earlier result of a session that merges into another would stay
# behind as a window that does not exist, so --emit update refuses them.
run agg -i "$DATA" --window session:3s --time-field ts --emit update
assert_eq 2 "$RC" "update session: refused"
assert_contains "$ERR" "--emit update cannot be used with session windows" "update session: the reason"
for spec in "tumbling:10s 5000" "none 0"; do
  read -r window grace_ms <<<"$spec"
  set +e
  grace=$( ((grace_ms)) && echo "${grace_ms}ms" || echo 0)
  emit_slowly "$DATA" | agg --window "$window" --grace "$grace" --time-field ts --on-error skip --emit update \
    > "$SCRATCH/update-$window" 2> "$SCRATCH/update-$window.err"
  rc=$?
  set -e
  assert_eq 0 "$rc" "update $window: exit code ($(cat "$SCRATCH/update-$window.err"))"
  check "update $window: the last line of each group is its final result" "$DATA" "$SCRATCH/update-$window" "$window" "$grace_ms" update
  assert_at_least "$(( $(field ok) + 1 ))" "$(field lines)" "update $window: intermediate results were emitted"
done

# --- late records under each --on-error mode ---------------------------------------------------------
# dead-letter: one envelope per late record, exactly, in input order.
run agg -i "$DATA" --window hopping:20s,5s --grace 5s --time-field ts --on-error dead-letter --dead-letter "$SCRATCH/late.dl"
assert_eq 0 "$RC" "late dead-letter: exit code ($ERR)"
oracle late "$DATA" hopping:20s,5s 5000 "$DATA" > "$SCRATCH/late.expected"
assert_files_equal "$SCRATCH/late.expected" "$SCRATCH/late.dl" "late dead-letter: the envelopes"
assert_eq "$(sort "$SCRATCH/out-hopping:20s,5s")" "$(sort <<<"$OUT")" "late dead-letter: the same results as skip"
run agg -i "$DATA" --window session:3s --grace 2s --time-field ts --on-error dead-letter --dead-letter "$SCRATCH/late-session.dl"
oracle late "$DATA" session:3s 2000 "$DATA" > "$SCRATCH/late-session.expected"
assert_files_equal "$SCRATCH/late-session.expected" "$SCRATCH/late-session.dl" "late dead-letter, sessions: the envelopes"
# fail: exit 65 at the first late record with file:line; the windows closed before it are out.
run agg -i "$DATA" --window tumbling:10s --grace 5s --time-field ts
assert_eq 65 "$RC" "late fail: exit code"
printf '%s\n' "$OUT" > "$SCRATCH/out-fail"
oracle first-late "$DATA" tumbling:10s 5000 "$SCRATCH/out-fail" > "$SCRATCH/first-late"
assert_contains "$ERR" "kstream-agg: $DATA:$(head -1 "$SCRATCH/first-late")" "late fail: the message names file:line and the times"
assert_matches "$(tail -1 "$SCRATCH/first-late")" '^ok [0-9]+$' "late fail: exactly the windows closed before the late record are out"
# A larger grace: nothing is late, and the oracle agrees.
run agg -i "$DATA" --window tumbling:10s --grace 1m --time-field ts --stats
assert_eq 0 "$RC" "grace 1m: exit code ($ERR)"
printf '%s\n' "$OUT" > "$SCRATCH/out-grace"
check "grace 1m: results" "$DATA" "$SCRATCH/out-grace" tumbling:10s 60000
assert_eq 0 "$(field late)" "grace 1m: the oracle has no late record"
assert_eq 0 "$(stat late "$ERR")" "grace 1m: no late record"

# --- bad records: not JSON, not an object, no time, a bad time, a string for sum ---------------------
{
  head -400 "$DATA"
  echo 'not json'                                                                  # 401
  echo '[1,2]'                                                                     # 402
  echo '{"city":"Paris","kind":1,"v":5,"x":1.5,"s":"beta"}'                        # 403 no ts
  echo '{"ts":null,"city":"Paris","kind":1,"v":5,"x":1.5,"s":"beta"}'              # 404 null ts
  echo '{"ts":"yesterday","city":"Paris","kind":1,"v":5,"x":1.5,"s":"beta"}'       # 405 not a time
  echo '{"ts":1700000090000,"city":"Paris","kind":1,"v":"many","x":1.5,"s":"b"}'   # 406 sum of a string
  echo '{"ts":1700000090000,"city":"Lyon","kind":2,"v":true,"x":1.5,"s":"b"}'       # 407 sum of a boolean
  echo '{"ts":1700000090000,"city":"Lyon","kind":2,"v":1,"x":1.5,"s":"b"'          # 408 cut short
  sed -n '401,800p' "$DATA"
} > "$SCRATCH/bad.jsonl"
run agg -i "$SCRATCH/bad.jsonl" --window tumbling:10s --grace 5s --time-field ts --on-error skip --stats
assert_eq 0 "$RC" "bad skip: exit code ($ERR)"
printf '%s\n' "$OUT" > "$SCRATCH/out-bad"
check "bad skip: the good records' results" "$SCRATCH/bad.jsonl" "$SCRATCH/out-bad" tumbling:10s 5000
assert_eq "$(field late)" "$(stat late "$ERR")" "bad skip: late count"
assert_eq "$(( $(field late) + 8 ))" "$(stat bad "$ERR")" "bad skip: bad count (8 bad records and the late ones)"
assert_contains "$ERR" "bad.jsonl:402: not a JSON object (skipped)" "bad skip: not an object reported"
assert_contains "$ERR" "bad.jsonl:403: no event time: ts is missing or null (skipped)" "bad skip: missing time reported"

run agg -i "$SCRATCH/bad.jsonl" --window tumbling:10s --grace 5s --time-field ts --on-error dead-letter --dead-letter "$SCRATCH/bad.dl"
assert_eq 0 "$RC" "bad dead-letter: exit code ($ERR)"
assert_eq "$(sort "$SCRATCH/out-bad")" "$(sort <<<"$OUT")" "bad dead-letter: the same results as skip"
grep -v '"reason":"late record' "$SCRATCH/bad.dl" > "$SCRATCH/bad.dl.bad" || true
python3 - "$SCRATCH/bad.dl.bad" "$SCRATCH/bad.jsonl" > "$SCRATCH/bad.dl.check" <<'PY'
import json, sys
envelopes = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
lines = open(sys.argv[2], encoding="utf-8").read().split("\n")
want = {
    401: "invalid JSON: ",
    402: "not a JSON object",
    403: "no event time: ts is missing or null",
    404: "no event time: ts is missing or null",
    405: "event time: 'yesterday' is not an ISO-8601 time",
    406: '--agg sv: sum() needs a number, got "many"',
    407: '--agg sv: sum() needs a number, got true',
    408: "invalid JSON: ",
}
problems = []
if [e.get("line") for e in envelopes] != sorted(want):
    problems.append("lines %s" % [e.get("line") for e in envelopes])
for e in envelopes:
    n = e.get("line")
    if n not in want:
        continue
    reason = want[n]
    ok = e["reason"].startswith(reason) if reason.endswith(": ") else e["reason"] == reason
    if not ok or e.get("data") != lines[n - 1] or e.get("tool") != "kstream-agg" or e.get("source") != sys.argv[2]:
        problems.append("line %d: %s" % (n, json.dumps(e)))
print("ok" if not problems else "; ".join(problems))
PY
assert_eq ok "$(cat "$SCRATCH/bad.dl.check")" "bad dead-letter: one envelope per bad record, with the reason and the bytes"
assert_eq "$(oracle late "$SCRATCH/bad.jsonl" tumbling:10s 5000 "$SCRATCH/bad.jsonl")" \
  "$(grep '"reason":"late record' "$SCRATCH/bad.dl")" "bad dead-letter: the late records too"

run agg -i "$SCRATCH/bad.jsonl" --window none --time-field ts
assert_eq 65 "$RC" "bad fail: exit code"
assert_contains "$ERR" "kstream-agg: $SCRATCH/bad.jsonl:401: invalid JSON:" "bad fail: names file and line"

# --- --max-keys bounds the open windows, not the windows seen: closed ones are evicted -------------------
run agg -i "$DATA" --window tumbling:10s --grace 5s --time-field ts --on-error skip --stats
peak=$(stat state_entries_peak "$ERR")
assert_between 30 "$(( $(wc -l < "$SCRATCH/out-tumbling:10s") / 4 ))" "$peak" "max-keys: the peak of open windows is far below the windows emitted"
run agg -i "$DATA" --window tumbling:10s --grace 5s --time-field ts --on-error skip --max-keys "$peak"
assert_eq 0 "$RC" "max-keys = the peak: exit code ($ERR)"
assert_eq "$(sort "$SCRATCH/out-tumbling:10s")" "$(sort <<<"$OUT")" "max-keys = the peak: the same results"
run agg -i "$DATA" --window tumbling:10s --grace 5s --time-field ts --on-error skip --max-keys "$((peak - 1))"
assert_eq 1 "$RC" "max-keys below the peak: exit code"
assert_contains "$ERR" "kstream-agg: --max-keys $((peak - 1)): that many groups x windows are open" "max-keys below the peak: message"

# --- usage errors exit 2 before reading anything --------------------------------------------------------
run kstream-agg -i "$DATA" --agg 'x=median(v)'
assert_eq 2 "$RC" "unknown function: exit code"
assert_contains "$ERR" "kstream-agg: --agg: unknown function 'median'" "unknown function: message"
run kstream-agg -i "$DATA" --agg 's=sum(v +)'
assert_eq 2 "$RC" "bad expression: exit code"
assert_eq "$(printf '%s\n' 'kstream-agg: --agg s: unexpected end of expression' '  v +' '     ^')" "$(head -3 <<<"$ERR")" \
  "bad expression: caret under the column"
run kstream-agg -i "$DATA" --agg 'n=count()' --window tumbling:5m --time ts --time-field ts
assert_eq 2 "$RC" "--time and --time-field: exit code"

finish
