#!/usr/bin/env bash
# kill -9 of kstream-agg at 10 seeded random moments of one Kafka-to-Kafka run while a producer feeds
# its input, each followed by a restart with the same group; then a last run to the end (-e). Two
# aggregations of one input go through it side by side (tumbling windows and session windows). A
# read_committed reader of each output finds exactly the windows that an oracle computes in python3
# from the input topic: nothing lost, nothing counted twice, no window emitted twice.
source "$(dirname "$0")/lib.sh"
export LC_ALL=C

# As in test_filter_kill9.sh: a session timeout of a minute, so that a restart that waited for the
# dead process's session to expire could not pass for a slow one.
long_session=(-X session.timeout.ms=60000)

# 24,000 records of 30 sensors keyed by name on 3 partitions, 20 a second of event time, each up to
# 3 s out of order, within the 5 s grace: every record is on time.
total=24000
python3 - "$total" > "$SCRATCH/in.jsonl" <<'PY'
import json, random, sys
rnd = random.Random(9)
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": i, "sensor": "s%d" % rnd.randrange(30), "ts": 1_700_000_000 + i // 20 + rnd.randrange(4),
                      "v": rnd.randrange(-100, 1000)}))
PY
in=$(new_topic ak9in 3)
tout=$(new_topic ak9tout 3)
sout=$(new_topic ak9sout 3)
aggs='n=count(),total=sum(v),lo=min(v),hi=max(v),first_id=first(id),last_id=last(id),ids=count_distinct(id)'
# Two aggregations of the input, killed at the same moments: 10 s tumbling windows, and sessions with
# a 3 s gap (out-of-order records merge sessions: the changelog gets tombstones).
tumbling=(kstream-agg -i "kafka:$in" -g "k9t-$in" -o "kafka:$tout" --group-by sensor --agg "$aggs" --window tumbling:10s
  --grace 5s --time-field ts "${long_session[@]}")
sessions=(kstream-agg -i "kafka:$in" -g "k9s-$in" -o "kafka:$sout" --group-by sensor --agg "$aggs" --window session:3s
  --grace 5s --time-field ts "${long_session[@]}")

# The input arrives while the aggregations are being killed: 1,500 records/s for about 16 s.
csv2kafka --input-format jsonl --key sensor "$SCRATCH/in.jsonl" -o "kafka:$in" --rate 1500 -q 2>"$SCRATCH/producer.err" &
producer=$!
BACKGROUND_PIDS+=("$producer")

RANDOM=9
: > "$SCRATCH/tumbling.err"
: > "$SCRATCH/sessions.err"
started() { [[ $(grep -c '^kstream-agg: transactional.id ' "$1") -ge $2 ]]; }  # log count
for kill in $(seq 10); do
  "${tumbling[@]}" --commit-interval 50 -v 2>>"$SCRATCH/tumbling.err" &
  t=$!
  "${sessions[@]}" --commit-interval 50 -v 2>>"$SCRATCH/sessions.err" &
  s=$!
  BACKGROUND_PIDS+=("$t" "$s")
  # The random moment counts from the runs' start (their transactional.id line), not from the
  # launch; it may fall in the restore of the state, the join of the group or the processing.
  delay=$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.3 + r / 32768 * 1.5 }')
  wait_for 60 started "$SCRATCH/tumbling.err" "$kill" || true
  wait_for 60 started "$SCRATCH/sessions.err" "$kill" || true
  sleep "$delay"
  kill -9 "$t" "$s" 2>/dev/null || true
  wait "$t" "$s" 2>/dev/null || true
done
set +e; wait "$producer"; rc=$?; set -e
assert_eq 0 "$rc" "producer ($(cat "$SCRATCH/producer.err"))"

# The input topic as kstream-agg reads it: partition, offset, record.
kcat -C -b "$KAFKA_BROKERS" -t "$in" -e -q -o beginning -f '%p\t%o\t%s\n' 2>/dev/null > "$SCRATCH/input.tsv"
assert_eq "$total" "$(wc -l < "$SCRATCH/input.tsv")" "every record in the input topic"

# The oracle: the windows of each partition in offset order (the order kstream-agg reads them),
# closed once the partition's max event time minus the grace reaches their end; those still open at
# the end stay in the state and are not emitted. Sessions: a record opens [t, t + gap) and merges
# with every open session of its sensor that overlaps it. Prints KEY<TAB>JSON lines, sorted.
oracle() {  # tumbling|session
  python3 - "$1" "$SCRATCH/input.tsv" <<'PY'
import json, sys, time
from collections import defaultdict
kind, grace = sys.argv[1], 5_000
size = 10_000 if kind == "tumbling" else 3_000
parts = defaultdict(list)
for line in open(sys.argv[2]):
    p, o, value = line.rstrip("\n").split("\t", 2)
    parts[int(p)].append((int(o), json.loads(value)))
iso = lambda ms: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))
out = []
def emit(sensor, start, end, rows):
    vs = [r["v"] for _, _, r in rows]
    first = min(rows, key=lambda x: (x[0], x[1]))[2]["id"]  # ties: the earliest arrived
    last = max(rows, key=lambda x: (x[0], x[1]))[2]["id"]   # ties: the latest arrived
    out.append('%s\t{"window_start":"%s","window_end":"%s","sensor":"%s","n":%d,"total":%d,"lo":%d,"hi":%d,'
               '"first_id":%d,"last_id":%d,"ids":%d}' % (sensor, iso(start), iso(end), sensor, len(rows), sum(vs),
               min(vs), max(vs), first, last, len({r["id"] for _, _, r in rows})))
for records in parts.values():
    records.sort(key=lambda x: x[0])
    windows, max_event = {}, None  # (sensor, start) -> [end, rows]
    for arrival, (_, r) in enumerate(records):
        t, sensor = r["ts"] * 1000, r["sensor"]
        wm = None if max_event is None else max_event - grace
        if kind == "tumbling":
            start = t // size * size
            assert wm is None or start + size > wm, "no record is late"
            windows.setdefault((sensor, start), [start + size, []])[1].append((t, arrival, r))
        else:
            touching = [k for k, (end, _) in windows.items() if k[0] == sensor and k[1] < t + size and end > t]
            assert touching or wm is None or t + size > wm, "no record is late"
            start, end, rows = t, t + size, [(t, arrival, r)]
            for k in touching:
                e, rs = windows.pop(k)
                start, end, rows = min(start, k[1]), max(end, e), rs + rows
            windows[(sensor, start)] = [end, rows]
        max_event = t if max_event is None else max(max_event, t)
        for k in [k for k, (end, _) in windows.items() if end <= max_event - grace]:
            end, rows = windows.pop(k)
            emit(k[0], k[1], end, rows)
print("\n".join(sorted(out)))
PY
}

# The last runs read what is left (-e) and exit; then the output holds exactly the oracle's windows.
for kind in tumbling sessions; do
  if [[ $kind == tumbling ]]; then cmd=("${tumbling[@]}") topic=$tout; else cmd=("${sessions[@]}") topic=$sout; fi
  echo "$kind, during the kills: $(grep -c 'assigned' "$SCRATCH/$kind.err") assignments, $(grep -c '^kstream-agg: restored' "$SCRATCH/$kind.err") restores"
  start=$(now)
  run "${cmd[@]}" -e --stats -v
  assert_eq 0 "$RC" "$kind: final run ($(grep -v property <<<"$ERR" | tail -5))"
  took=$(elapsed "$start")
  echo "$kind, final run: $took s, $(stat records_in "$ERR") records, $(stat restored_entries "$ERR") windows restored in $(stat restore_s "$ERR") s"
  # Static membership: the restart takes the dead process's partitions at once, not after the 60 s
  # session timeout; half of that is a generous bound for the restore and the rest of the input.
  assert_between 0 30 "$took" "$kind: the last restart did not wait for the dead process's session to expire"
  assert_eq 0 "$(stat late "$ERR")" "$kind: no late record"
  assert_eq 10 "$(grep -c '^kstream-agg: transactional.id ' "$SCRATCH/$kind.err")" "$kind: every killed run started"
  assert_eq 1 "$(cat "$SCRATCH/$kind.err" - <<<"$ERR" | grep -o '^kstream-agg: transactional.id [^,]*' | sort -u | wc -l)" \
    "$kind: the same transactional.id for every restart"
  oracle "${kind%s}" > "$SCRATCH/$kind.expected"
  await_committed "$topic" "$(wc -l < "$SCRATCH/$kind.expected")"
  committed "$topic" -f '%k\t%s\n' | sort > "$SCRATCH/$kind.actual"
  echo "$kind: $(wc -l < "$SCRATCH/$kind.expected") windows expected, $(wc -l < "$SCRATCH/$kind.actual") in the output"
  assert_files_equal "$SCRATCH/$kind.expected" "$SCRATCH/$kind.actual" "$kind: every window exactly once, exact, after 10 kill -9 and restarts"
done

finish
