#!/usr/bin/env bash
# kstream-agg from and to the real broker, each result compared exactly with an oracle computed
# here in python3 from the input topic (as kcat reads it): tumbling, session and --window none
# windows, exactly once, with a second run that goes on from the state restored from the changelog;
# the changelog's configuration; the key check; an idle partition; --idle-close; a backlog replay
# without late records; two processes in one group, one of them killed with kill -9.
source "$(dirname "$0")/lib.sh"
export LC_ALL=C

# The oracle: the documented semantics recomputed from the input topic (kcat's partition, offset,
# key and value of every message), one partition at a time in offset order: windows [start, end)
# aligned to the epoch, a watermark per partition (max event time seen minus grace), a window
# closes and is emitted when the watermark reaches its end, a record whose windows are all closed
# is late (counted, not aggregated). From Kafka the windows still open at the end stay in the state
# (not emitted); --window none emits every total at the end of each run. Prints KEY<TAB>JSON lines,
# sorted, and "late N" on stderr.
#   oracle.py GROUP_FIELDS AGGS WINDOW GRACE_S TIME_FIELD [all]
#   GROUP_FIELDS: a,b  AGGS: name=func(field),name=count()  WINDOW: tumbling:S, session:S or none
#   all: the windows still open at the end too (what --idle-close brings out by the clock)
cat > "$SCRATCH/oracle.py" <<'PY'
import json, sys, time
from collections import defaultdict

group_fields = sys.argv[1].split(",")
aggs = []
for item in sys.argv[2].split(","):
    name, call = item.split("=")
    func, arg = call[:-1].split("(")
    aggs.append((name, func, arg or None))
kind, _, size = sys.argv[3].partition(":")
size_ms = int(size) * 1000 if size else 0
grace_ms = int(sys.argv[4]) * 1000
time_field = sys.argv[5]
emit_open = sys.argv[6:] == ["all"]


def text(v):  # a value's JSON text as kstream-agg writes it (integral doubles without ".0")
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return json.dumps(v, separators=(",", ":"))


def iso(ms):
    assert ms % 1000 == 0, ms
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def aggregate(func, arg, rows):  # rows: (event time, arrival, record), in arrival order
    if func == "count" and arg is None:
        return len(rows)
    vals = [(t, n, r[arg]) for t, n, r in rows if r.get(arg) is not None]
    xs = [v for _, _, v in vals]
    if func == "count":
        return len(xs)
    if func == "count_distinct":
        return len({text(v) for v in xs})
    if not xs:
        return None
    if func == "sum":
        return sum(xs)
    if func == "avg":
        return sum(xs) / len(xs)  # exact sum, one rounding
    if func == "min":
        return min(xs)
    if func == "max":
        return max(xs)
    if func == "first":  # the earliest event time; ties: the earliest arrived
        return min(vals, key=lambda x: (x[0], x[1]))[2]
    if func == "last":  # the latest event time; ties: the latest arrived
        return max(vals, key=lambda x: (x[0], x[1]))[2]
    raise SystemExit("oracle: no function " + func)


out = []


def emit(group, start, end, rows):
    fields = []
    if kind != "none":
        fields += ['"window_start":' + text(iso(start)), '"window_end":' + text(iso(end))]
    fields += ['"%s":%s' % (f, text(v)) for f, v in zip(group_fields, group)]
    fields += ['"%s":%s' % (name, text(aggregate(func, arg, rows))) for name, func, arg in aggs]
    if len(group) > 1:
        key = "[" + ",".join(text(v) for v in group) + "]"
    else:
        key = group[0] if isinstance(group[0], str) else text(group[0])
    out.append(key + "\t{" + ",".join(fields) + "}")


parts = defaultdict(list)
for line in sys.stdin:
    p, o, _key, value = line.rstrip("\n").split("\t", 3)
    parts[int(p)].append((int(o), json.loads(value)))

late = 0
for records in parts.values():
    records.sort(key=lambda x: x[0])
    max_event = None
    windows = {}  # (group, start) -> [end, rows]
    for arrival, (_, r) in enumerate(records):
        t = r[time_field] * 1000
        group = tuple(r[f] for f in group_fields)
        wm = None if max_event is None else max_event - grace_ms
        row = (t, arrival, r)
        if kind == "none":
            windows.setdefault((group, 0), [0, []])[1].append(row)
        elif kind == "tumbling":
            start = t // size_ms * size_ms
            if wm is not None and start + size_ms <= wm:
                late += 1
                continue
            windows.setdefault((group, start), [start + size_ms, []])[1].append(row)
        elif kind == "session":
            # [t, t + gap) merges with every open session of its group that overlaps it
            touching = [k for k, (end, _) in windows.items() if k[0] == group and k[1] < t + size_ms and end > t]
            if not touching and wm is not None and t + size_ms <= wm:
                late += 1
                continue
            start, end, rows = t, t + size_ms, [row]
            for k in touching:
                e, rs = windows.pop(k)
                start, end, rows = min(start, k[1]), max(end, e), rs + rows
            windows[(group, start)] = [end, sorted(rows, key=lambda x: x[1])]
        else:
            raise SystemExit("oracle: no window " + kind)
        if max_event is None or t > max_event:
            max_event = t
        if kind != "none":
            for k in [k for k, (end, _) in windows.items() if end <= max_event - grace_ms]:
                end, rows = windows.pop(k)
                emit(k[0], k[1], end, rows)
    if kind == "none" or emit_open:
        for k, (end, rows) in windows.items():
            emit(k[0], k[1], end, rows)

print("late", late, file=sys.stderr)
for line in sorted(out):
    print(line)
PY

# The oracle's results for the records of TOPIC: expected TOPIC ORACLE-ARGS...; its count of late
# records goes to $SCRATCH/late.
expected() {
  kcat -C -b "$KAFKA_BROKERS" -t "$1" -e -q -o beginning -f '%p\t%o\t%k\t%s\n' 2>/dev/null |
    python3 "$SCRATCH/oracle.py" "${@:2}" 2>"$SCRATCH/oracle.err"
  sed -n 's/^late //p' "$SCRATCH/oracle.err" > "$SCRATCH/late"
}
# What a read_committed reader finds in TOPIC, as KEY<TAB>VALUE lines, sorted.
results() { committed "$1" -f '%k\t%s\n' | sort; }
results_are() { [[ $(results "$1") == "$2" ]]; }  # topic expected-text
# Records (JSON lines) to TOPIC, keyed by FIELD: produce FILE TOPIC FIELD
produce() { csv2kafka --input-format jsonl --key "$3" "$1" -o "kafka:$2" -q; }
# The changelog's partition count and cleanup policy, as the broker describes it.
describe_topic() {
  java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Xlog:disable -cp "$("$KS_ROOT/scripts/kafka-local" libs)/*" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BROKERS" --describe --topic "$1" 2>/dev/null | awk 'NR == 1'
}
# What a read_committed reader finds in TOPIC equals EXPECTED, line for line (a diff if not).
assert_results() {  # topic expected message
  printf '%s\n' "$2" > "$SCRATCH/want"
  results "$1" > "$SCRATCH/got"
  assert_files_equal "$SCRATCH/want" "$SCRATCH/got" "$3"
}
# The log of a process run with -v shows at least COUNT (default 3) assignments of TOPIC's partitions.
assigned_all() { [[ $(grep -sc "assigned $1 " "$2") -ge ${3:-3} ]]; }  # topic log [count] (it may not exist yet)

# --- Tumbling windows, exactly once, over two runs -------------------------------------------
# Twelve sensors keyed by name on 3 partitions; event times out of order by up to 20 s (grace 30 s).
# The second run's input goes on where the first one's stopped: the windows left open by the first
# run get records of both runs (runs=2) and are emitted once, complete. It starts with three records
# behind the watermark of their partition as the first run left it: late only if that watermark
# was restored too.
gen_sensors() {  # seed first last late...
  python3 - "$@" <<'PY'
import json, random, sys
seed, first, last = map(int, sys.argv[1:4])
rnd = random.Random(seed)
base = 1_700_000_000
for s in sys.argv[4:]:
    print(json.dumps({"sensor": s, "zone": "z%d" % (int(s[1:]) % 3), "ts": base + 5, "v": 1000, "kind": "late", "run": 2}))
for i in range(first, last):
    n = rnd.randrange(12)
    print(json.dumps({"sensor": "s%d" % n, "zone": "z%d" % (n % 3), "ts": base + 2 * i + rnd.randrange(21),
                      "v": rnd.randrange(-50, 200), "kind": rnd.choice("abcd"), "run": 1 if first == 0 else 2}))
PY
}
tin=$(new_topic aggtin 3)
tout=$(new_topic aggtout 3)
aggs='n=count(),total=sum(v),mean=avg(v),lo=min(v),hi=max(v),first_v=first(v),last_v=last(v),kinds=count_distinct(kind),runs=count_distinct(run)'
tumbling=(-i "kafka:$tin" -g "tumbling-$tin" -o "kafka:$tout" --group-by 'sensor, zone' --agg "$aggs"
  --window tumbling:1m --grace 30s --time-field ts -e --stats)
gen_sensors 1 0 600 > "$SCRATCH/t1.jsonl"
produce "$SCRATCH/t1.jsonl" "$tin" sensor
run kstream-agg "${tumbling[@]}"
assert_eq 0 "$RC" "tumbling, first run: exit code ($ERR)"
assert_eq "600 0" "$(stat records_in "$ERR") $(stat late "$ERR")" "tumbling, first run: records in, late"
want=$(expected "$tin" sensor,zone "$aggs" tumbling:60 30 ts)
assert_eq 0 "$(cat "$SCRATCH/late")" "tumbling, first run: the oracle has no late record either"
await_committed "$tout" "$(wc -l <<<"$want")"
assert_results "$tout" "$want" "tumbling, first run: the closed windows, exactly"
# The changelog: compacted, as many partitions as the input.
described=$(describe_topic "tumbling-$tin-changelog")
assert_contains "$described" "PartitionCount: 3" "changelog: the input's partition count ($described)"
assert_matches "$described" "Configs:.*cleanup\.policy=compact" "changelog: compacted"

gen_sensors 2 600 1000 s0 s1 s2 > "$SCRATCH/t2.jsonl"
produce "$SCRATCH/t2.jsonl" "$tin" sensor
run kstream-agg "${tumbling[@]}" --on-error skip
assert_eq 0 "$RC" "tumbling, second run: exit code ($ERR)"
assert_eq "403 3" "$(stat records_in "$ERR") $(stat late "$ERR")" "tumbling, second run: records in, late (behind the restored watermark)"
assert_at_least 1 "$(stat restored_entries "$ERR")" "tumbling, second run: open windows restored"
want=$(expected "$tin" sensor,zone "$aggs" tumbling:60 30 ts)
assert_eq 3 "$(cat "$SCRATCH/late")" "tumbling, second run: the oracle's late records"
await_committed "$tout" "$(wc -l <<<"$want")"
assert_results "$tout" "$want" "tumbling, second run: every window once, those open across the runs complete"
assert_at_least 1 "$(grep -c '"runs":2}' "$SCRATCH/got")" "tumbling, second run: windows with records of both runs"

# --- Session windows (gap 30 s, grace 10 s), exactly once, over two runs ------------------------
# Ten users keyed by name on 4 partitions, gaps between a user's events of 0 to 90 s, exactly 30 s
# among them (a new session: windows are half-open). Sessions open at the end of the first run
# take the second run's records (runs=2).
gen_sessions() {  # seed run: the events of the first (t < base + 600) or the second run, in time order
  python3 - "$@" <<'PY'
import json, random, sys
seed, part = map(int, sys.argv[1:3])
rnd = random.Random(seed)
base = 1_700_000_000
events = []
for u in range(10):
    t = base + rnd.randrange(60)
    while t < base + 1200:
        events.append((t, u, rnd.randrange(1, 100)))
        t += rnd.choice([0, 1, 5, 12, 29, 30, 30, 31, 45, 90])
events.sort()
for t, u, v in events:
    if (t < base + 600) == (part == 1):
        print(json.dumps({"user": "u%d" % u, "ts": t, "v": v, "run": part}))
PY
}
sin=$(new_topic aggsin 4)
sout=$(new_topic aggsout 4)
saggs='n=count(),total=sum(v),first_v=first(v),last_v=last(v),runs=count_distinct(run)'
session=(-i "kafka:$sin" -g "session-$sin" -o "kafka:$sout" --group-by user --agg "$saggs" --window session:30s --grace 10s
  --time-field ts -e --stats)
gen_sessions 3 1 > "$SCRATCH/s1.jsonl"
produce "$SCRATCH/s1.jsonl" "$sin" user
run kstream-agg "${session[@]}"
assert_eq 0 "$RC" "session, first run: exit code ($ERR)"
want=$(expected "$sin" user "$saggs" session:30 10 ts)
await_committed "$sout" "$(wc -l <<<"$want")"
assert_results "$sout" "$want" "session, first run: the closed sessions, exactly"
gen_sessions 3 2 > "$SCRATCH/s2.jsonl"
produce "$SCRATCH/s2.jsonl" "$sin" user
run kstream-agg "${session[@]}"
assert_eq 0 "$RC" "session, second run: exit code ($ERR)"
assert_eq "$(wc -l < "$SCRATCH/s2.jsonl") 0" "$(stat records_in "$ERR") $(stat late "$ERR")" "session, second run: records in, late"
assert_at_least 1 "$(stat restored_entries "$ERR")" "session, second run: open sessions restored"
want=$(expected "$sin" user "$saggs" session:30 10 ts)
assert_eq 0 "$(cat "$SCRATCH/late")" "session: the oracle has no late record either"
await_committed "$sout" "$(wc -l <<<"$want")"
assert_results "$sout" "$want" "session, second run: every session once, those open across the runs complete"
assert_at_least 1 "$(grep -c '"runs":2}' "$SCRATCH/got")" "session, second run: sessions with records of both runs"

# --- --window none: running totals, emitted at the end of each run ------------------------------
# The second run emits every group's total again, the first run's records counted once.
gen_cities() {  # seed count
  python3 - "$@" <<'PY'
import json, random, sys
seed, count = map(int, sys.argv[1:3])
rnd = random.Random(seed)
for i in range(count):
    print(json.dumps({"city": rnd.choice(["Paris", "Lyon", "Lille", "Nantes", "Brest", "Metz", "Nice"][: 5 + seed]),
                      "ts": 1_700_000_000 + i, "v": rnd.randrange(1000)}))
PY
}
nin=$(new_topic aggnin 3)
nout=$(new_topic aggnout 3)
naggs='n=count(),total=sum(v),hi=max(v)'
none=(-i "kafka:$nin" -g "none-$nin" -o "kafka:$nout" --group-by city --agg "$naggs" --window none -e --stats)
gen_cities 0 300 > "$SCRATCH/n1.jsonl"
produce "$SCRATCH/n1.jsonl" "$nin" city
run kstream-agg "${none[@]}"
assert_eq 0 "$RC" "none, first run: exit code ($ERR)"
first_totals=$(expected "$nin" city "$naggs" none 0 ts)
assert_eq 5 "$(wc -l <<<"$first_totals")" "none: five cities in the first run"
await_committed "$nout" 5
assert_results "$nout" "$first_totals" "none, first run: the totals"
gen_cities 2 200 > "$SCRATCH/n2.jsonl"
produce "$SCRATCH/n2.jsonl" "$nin" city
run kstream-agg "${none[@]}"
assert_eq 0 "$RC" "none, second run: exit code ($ERR)"
assert_eq 200 "$(stat records_in "$ERR")" "none, second run: only the new records read"
want=$(sort <<<"$first_totals"$'\n'"$(expected "$nin" city "$naggs" none 0 ts)")
await_committed "$nout" "$(wc -l <<<"$want")"
assert_results "$nout" "$want" "none, second run: the first totals, then every total over both runs"

# --- The key check ---------------------------------------------------------------------------
# From a topic of several partitions the message key must be the first --group-by value: records
# keyed by another field are bad records (exit 65, the documented message). On one partition, with
# --no-key-check, the same records pass.
python3 -c '
import json
for i in range(60):
    print(json.dumps({"id": i, "sensor": "s%d" % (i % 5), "ts": 1_700_000_000 + i, "v": i}))' > "$SCRATCH/k.jsonl"
kin=$(new_topic aggkin 3)
produce "$SCRATCH/k.jsonl" "$kin" id
kout=$(new_topic aggkout 1)
kaggs='n=count(),total=sum(v)'
run kstream-agg -i "kafka:$kin" -g "keys-$kin" -o "kafka:$kout" --group-by sensor --agg "$kaggs" --window tumbling:10s --time-field ts -e
assert_eq 65 "$RC" "key check: exit code"
assert_matches "$ERR" "^kstream-agg: $kin \[[0-2]\] at offset [0-9]+: the message key '([0-9]+)' is not the first --group-by value '(s[0-4])': from a topic with several partitions every group must be in one partition \(re-key with kstream-filter --key 'sensor'; docs/kstream-agg\.md\) \(--on-error skip or dead-letter to go on\)$" \
  "key check: the message names the key, the group value and the fix"
assert_eq "s$((${BASH_REMATCH[1]:-0} % 5))" "${BASH_REMATCH[2]:-}" "key check: the group value is the record's (id ${BASH_REMATCH[1]:-})"
assert_eq "" "$(committed "$kout")" "key check: nothing out"
kone=$(new_topic aggkone 1)
produce "$SCRATCH/k.jsonl" "$kone" id
want=$(expected "$kone" sensor "$kaggs" tumbling:10 0 ts)
run kstream-agg -i "kafka:$kone" -g "keys-one-$kone" -o "kafka:$kout" --group-by sensor --agg "$kaggs" --window tumbling:10s --time-field ts -e --no-key-check
assert_eq 0 "$RC" "--no-key-check on one partition: exit code ($ERR)"
await_committed "$kout" "$(wc -l <<<"$want")"
assert_results "$kout" "$want" "--no-key-check on one partition: the results"

# --- An idle partition does not hold back the others ----------------------------------------
# Records only in partitions 0 and 1 of 3, while the aggregation runs: the windows of both close and
# are emitted (each partition has its own watermark), with partition 2 still empty.
iin=$(new_topic aggiin 3)
iout=$(new_topic aggiout 3)
kstream-agg -i "kafka:$iin" -g "idle-$iin" -o "kafka:$iout" --group-by sensor --agg "$kaggs" --window tumbling:10s \
  --time-field ts -v 2>"$SCRATCH/idle.err" &
idle=$!
BACKGROUND_PIDS+=("$idle")
assert_eventually 60 "idle partition: the aggregation holds the three partitions" assigned_all "$iin" "$SCRATCH/idle.err"
for p in 0 1; do
  python3 -c '
import json, sys
p = int(sys.argv[1])
for i in range(50):
    s = "s%d" % (2 * (i % 2) + p)
    print(s + "\t" + json.dumps({"sensor": s, "ts": 1_700_000_000 + 2 * i + p, "v": i}))' "$p" |
    kcat -P -b "$KAFKA_BROKERS" -t "$iin" -p "$p" -K $'\t' 2>/dev/null
done
want=$(expected "$iin" sensor "$kaggs" tumbling:10 0 ts)
assert_eq 36 "$(wc -l <<<"$want")" "idle partition: 9 closed windows of 2 sensors in each of the busy partitions"
assert_eventually 60 "idle partition: the busy partitions' windows are emitted while it runs" results_are "$iout" "$want"
assert_results "$iout" "$want" "idle partition: the results"
assert_eq "" "$(kcat -C -b "$KAFKA_BROKERS" -t "$iin" -p 2 -e -q -o beginning 2>/dev/null)" "idle partition: partition 2 has no record"
assert_eq 0 "$(running "$idle"; echo $?)" "idle partition: still running"
kill -TERM "$idle"
set +e; wait "$idle"; rc=$?; set -e
assert_eq 0 "$rc" "idle partition: SIGTERM stops it cleanly ($(tail -2 "$SCRATCH/idle.err"))"

# --- --idle-close: the last window of a stream that stops comes out by the clock -------------
# Four sensors, a record a second of event time each up to base + 55 s, in 10 s windows: the last
# window [base + 50, base + 60) ends 5 s after the last record, and no record comes to close it.
# With --idle-close 2 its partition's event time moves on with the wall clock once no record came
# for 2 s, so the window is emitted about 5 s after the last record (never sooner), while the
# aggregation keeps running.
cin=$(new_topic aggcin 2)
cout=$(new_topic aggcout 2)
kstream-agg -i "kafka:$cin" -g "close-$cin" -o "kafka:$cout" --group-by sensor --agg "$kaggs" --window tumbling:10s \
  --time-field ts --idle-close 2 -v 2>"$SCRATCH/close.err" &
closer=$!
BACKGROUND_PIDS+=("$closer")
assert_eventually 60 "idle-close: the aggregation holds the two partitions" assigned_all "$cin" "$SCRATCH/close.err" 2
python3 -c '
import json
base = 1_699_999_990  # a multiple of 10 s
for i in range(56):
    for s in range(4):
        print(json.dumps({"sensor": "s%d" % s, "ts": base + i, "v": i * s}))' > "$SCRATCH/c.jsonl"
started=$(now)
produce "$SCRATCH/c.jsonl" "$cin" sensor
want=$(expected "$cin" sensor "$kaggs" tumbling:10 0 ts all)
assert_eq 24 "$(wc -l <<<"$want")" "idle-close: 6 windows of 4 sensors"
assert_eventually 60 "idle-close: the last windows are emitted without a new record" results_are "$cout" "$want"
took=$(elapsed "$started")
echo "idle-close: the last window out $took s after the records were sent (--idle-close 2)"
assert_at_least 5 "$took" "idle-close: not before the wall clock has covered the window's remaining event time"
assert_results "$cout" "$want" "idle-close: every window once"
assert_eq 0 "$(running "$closer"; echo $?)" "idle-close: still running"
kill -TERM "$closer"
set +e; wait "$closer"; rc=$?; set -e
assert_eq 0 "$rc" "idle-close: SIGTERM stops it cleanly ($(tail -2 "$SCRATCH/close.err"))"

# --- A backlog replay turns no on-time record into a late one -------------------------------
# 12,000 records of 6 sensors on 4 partitions, event times over two and a half days, each up to 4
# minutes out of order (5-minute windows, 10-minute grace), all in the topic before the aggregation
# starts from the beginning: the partitions are read at their own pace, each with its own watermark,
# so nothing is late and every sum is exact.
python3 - > "$SCRATCH/b.jsonl" <<'PY'
import json, random
rnd = random.Random(7)
base = 1_700_000_000
for i in range(12_000):
    s = rnd.randrange(6)
    print(json.dumps({"sensor": "s%d" % s, "ts": base + 18 * i + rnd.randrange(241), "v": rnd.randrange(10_000)}))
PY
bin=$(new_topic aggbin 4)
bout=$(new_topic aggbout 4)
produce "$SCRATCH/b.jsonl" "$bin" sensor
baggs='n=count(),total=sum(v),hi=max(v)'
run kstream-agg -i "kafka:$bin" -g "backlog-$bin" -o "kafka:$bout" --group-by sensor --agg "$baggs" --window tumbling:5m \
  --grace 10m --time-field ts --from earliest -e --stats
assert_eq 0 "$RC" "backlog: exit code ($ERR)"
assert_eq "12000 0" "$(stat records_in "$ERR") $(stat late "$ERR")" "backlog: every record read, none late"
want=$(expected "$bin" sensor "$baggs" tumbling:300 600 ts)
assert_eq 0 "$(cat "$SCRATCH/late")" "backlog: none late for the oracle either"
await_committed "$bout" "$(wc -l <<<"$want")"
assert_results "$bout" "$want" "backlog: every window's count and sum, exactly"
echo "backlog: $(wc -l <<<"$want") windows, $(stat records_per_s "$ERR") records/s"

# --- Two processes in one group, one killed with kill -9 --------------------------------------
# 4 partitions fed at 300 records/s for 10 s. Processes a and b share them; b is killed mid-run; a
# takes b's partitions once b's session has expired, with their state from the changelog; b comes
# back (a restart) and takes some back. Together they write every window exactly once.
python3 - > "$SCRATCH/h.jsonl" <<'PY'
import json, random
rnd = random.Random(11)
for i in range(3000):
    print(json.dumps({"sensor": "s%d" % rnd.randrange(20), "ts": 1_700_000_000 + i // 4, "v": rnd.randrange(100)}))
PY
hin=$(new_topic agghin 4)
hout=$(new_topic agghout 4)
haggs='n=count(),total=sum(v),last_v=last(v)'
member() {  # instance-id log
  kstream-agg -i "kafka:$hin" -g "two-$hin" -o "kafka:$hout" --group-by sensor --agg "$haggs" --window tumbling:10s \
    --grace 5s --time-field ts --instance-id "$1" -X session.timeout.ms=6000 -v --stats 2>"$2" &
}
csv2kafka --input-format jsonl --key sensor "$SCRATCH/h.jsonl" -o "kafka:$hin" --rate 300 -q 2>"$SCRATCH/hproducer.err" &
producer=$!
BACKGROUND_PIDS+=("$producer")
member a "$SCRATCH/a.err"
a=$!
member b "$SCRATCH/b.err"
b=$!
BACKGROUND_PIDS+=("$a" "$b")
assert_eventually 60 "two members: b holds partitions" assigned_all "$hin" "$SCRATCH/b.err" 1
output_at_least() { [[ $(committed "$1" | wc -l) -ge $2 ]]; }
assert_eventually 60 "two members: results come" output_at_least "$hout" 20
# The partitions b holds (assigned and not revoked since) when it is killed.
held_by_b=$(awk -v t="$hin" '$2 == "assigned" && $3 == t { held[$4] = 1 } $2 == "revoked" && $3 == t { delete held[$4] }
  END { for (p in held) print p }' "$SCRATCH/b.err" | sort)
assert_matches "$held_by_b" "^\[[0-3]\]" "two members: b holds partitions when it is killed"
a_lines=$(wc -l < "$SCRATCH/a.err")
{ kill -9 "$b" && wait "$b"; } 2>/dev/null || true
# a gets them once b's session has expired.
takes_over() {
  local p
  for p in $held_by_b; do tail -n +"$((a_lines + 1))" "$SCRATCH/a.err" | grep -qF "assigned $hin $p" || return 1; done
}
assert_eventually 60 "two members: a takes b's partitions (${held_by_b//$'\n'/ })" takes_over
member b "$SCRATCH/b2.err"
b=$!
BACKGROUND_PIDS+=("$b")
assert_eventually 60 "two members: the restarted b holds partitions again" assigned_all "$hin" "$SCRATCH/b2.err" 1
set +e; wait "$producer"; rc=$?; set -e
assert_eq 0 "$rc" "two members: producer ($(cat "$SCRATCH/hproducer.err"))"
want=$(expected "$hin" sensor "$haggs" tumbling:10 5 ts)
assert_eventually 90 "two members: every window out" results_are "$hout" "$want"
kill -TERM "$a" "$b"
set +e; wait "$a"; rca=$?; wait "$b"; rcb=$?; set -e
assert_eq "0 0" "$rca $rcb" "two members: both stop cleanly on SIGTERM"
assert_results "$hout" "$want" "two members: every window exactly once after the kill -9"
assert_at_least 1 "$(stat restored_entries "$(cat "$SCRATCH/a.err")")" "two members: a restored b's open windows"
echo "two members: $(wc -l <<<"$want") windows; restored by a: $(stat restored_entries "$(cat "$SCRATCH/a.err")"), by b: $(stat restored_entries "$(cat "$SCRATCH/b2.err")")"

# --- Message keys of string groups -------------------------------------------------------------
# The key is the group's text, unescaped: a quote, a backslash, a tab and an escaped é come out as
# those characters; a number as its JSON text. One partition, --window none.
kin=$(new_topic aggkeyin 1)
kout=$(new_topic aggkeyout 1)
printf '%s\n' '{"g":"a\"b","v":1}' '{"g":"back\\slash","v":2}' '{"g":"tab\there","v":3}' '{"g":"\u00e9t\u00e9","v":4}' \
  '{"g":"plain","v":5}' '{"g":7,"v":6}' '{"g":"a\"b","v":10}' > "$SCRATCH/keys.jsonl"
csv2kafka --input-format jsonl "$SCRATCH/keys.jsonl" -o "kafka:$kin" -q
run kstream-agg -i "kafka:$kin" -g "keys-$kin" -o "kafka:$kout" --group-by g --agg 's=sum(v)' -e
assert_eq 0 "$RC" "keys: exit code ($ERR)"
want=$(printf '%s\n' $'7\t{"g":7,"s":6}' $'a"b\t{"g":"a\\"b","s":11}' $'back\\slash\t{"g":"back\\\\slash","s":2}' \
  $'plain\t{"g":"plain","s":5}' $'tab\there\t{"g":"tab\\there","s":3}' $'\xc3\xa9t\xc3\xa9\t{"g":"\xc3\xa9t\xc3\xa9","s":4}' | sort)
await_committed "$kout" 6
assert_results "$kout" "$want" "keys: unescaped group text as the message key"

finish
