#!/usr/bin/env bash
# The kstream-agg pipelines of scripts/ (velib-by-postcode, traffic-by-hour, tickets-by-priority)
# against the test broker, run as cron jobs would run them (several --drain runs, the state carried
# over in the changelog), their outputs checked exactly against python3 computations from the
# input records.
source "$(dirname "$0")/lib.sh"
S=$KS_ROOT/scripts

# What a read_committed reader sees of TOPIC, as "partition<TAB>key<TAB>value" lines.
pkv() { committed "$1" -f '%p\t%k\t%s\n'; }

# --- velib-by-postcode -------------------------------------------------------------------------
# Four cron rounds: velib-enrich --drain, then velib-by-postcode --drain. Round 1 is the sample
# (polls 1-3 of gen-velib's default run), rounds 2-4 add 5 polls each (polls 4-18, a minute apart).
# Within a round the reports span less than the 10-minute grace, so however the re-key step
# interleaves partitions no report is late; the windows that the last reports of each partition
# of the keyed topic close (their end at most that partition's latest last_reported minus 10
# minutes) come out, with every report of the window in the sums.
in=velib-$RANDOM$RANDOM
windows=(--in "$in-enriched" --out "$in-clean" --group "vw-$in")
totals=(--in "$in-enriched" --out "$in-totals" --group "vt-$in" --running-totals)
scripts_ok=0 lates=""
velib_round() {  # first-poll last-poll: publish those polls (none for the sample), enrich, aggregate
  if [[ $1 == 1 ]]; then
    run "$S/velib-enrich" --in "$in" --out "$in-enriched" --group "ve-$in" --samples --drain
  else
    "$S/gen-velib" status --polls "$2" | sed -n "$(( ($1 - 1) * 50 + 1 )),$(( $2 * 50 ))p" |
      csv2kafka --input-format jsonl -o "kafka:$in" --key stationCode -q
    run "$S/velib-enrich" --in "$in" --out "$in-enriched" --group "ve-$in" --drain
  fi
  [[ $RC == 0 ]] || fail "velib-enrich, polls $1-$2: exit code $RC ($ERR)"
  run "$S/velib-by-postcode" "${windows[@]}" --drain
  if [[ $RC == 0 ]]; then scripts_ok=$((scripts_ok + 1)); else fail "velib-by-postcode, polls $1-$2: exit code $RC ($ERR)"; fi
  lates+="$(stat late "$ERR")"
}
velib_round 1 3
await_committed "$in-enriched-by-postcode" 30
pkv "$in-enriched-by-postcode" > "$SCRATCH/velib.keyed1"
run "$S/velib-by-postcode" "${totals[@]}" --drain
assert_eq 0 "$RC" "velib-by-postcode --running-totals after the first round: exit code ($ERR)"
await_committed "$in-totals" 10
pkv "$in-totals" > "$SCRATCH/velib.totals1"
velib_round 4 8
velib_round 9 13
velib_round 14 18
assert_eq 4 "$scripts_ok" "velib-by-postcode: four --drain runs succeed"
assert_eq 0000 "$lates" "velib-by-postcode: no report is late in any round"
run "$S/velib-by-postcode" "${totals[@]}" --drain
assert_eq 0 "$RC" "velib-by-postcode --running-totals at the end: exit code ($ERR)"
assert_contains "$ERR" '"restored_entries":10' "velib-by-postcode --running-totals: the second run starts from the first one's totals"
await_committed "$in-enriched" 180
committed "$in-enriched" > "$SCRATCH/velib.enriched"
assert_eq 180 "$(wc -l < "$SCRATCH/velib.enriched")" "velib-enrich: 10 stations x 18 polls"
await_committed "$in-enriched-by-postcode" 180
pkv "$in-enriched-by-postcode" > "$SCRATCH/velib.keyed"
await_committed "$in-totals" 20
pkv "$in-totals" > "$SCRATCH/velib.totals"
pkv "$in-clean" > "$SCRATCH/velib.clean"
python3 - "$SCRATCH"/velib.{enriched,keyed,clean,keyed1,totals1,totals} > "$SCRATCH/velib.check" <<'PY'
import collections, datetime, json, sys
enriched, keyed, clean, keyed1, totals1, totals = ([l.rstrip('\n') for l in open(f, encoding='utf-8')] for f in sys.argv[1:])
keyed, keyed1 = ([l.split('\t', 2) for l in f] for f in (keyed, keyed1))
rest = lambda lines: sorted(l.split('\t', 1)[1] for l in lines)  # without the partition
problems = []
if sorted(v for _, _, v in keyed) != sorted(enriched):
    problems.append('the keyed topic does not hold the enriched records, once each')
if any(k != str(json.loads(v)['postcode']) for _, k, v in keyed):
    problems.append('a keyed record whose key is not its postcode')
iso = lambda s: datetime.datetime.fromtimestamp(s, tz=datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
line = lambda key, fields: key + '\t' + json.dumps(dict(fields), separators=(',', ':'), ensure_ascii=False)
def sums(records):
    s = {}
    for r in records:
        t = s.setdefault(r['key'], [0, 0, 0, 0])
        for i, v in enumerate((r['num_bikes_available'], r['mechanical'], r['ebike'], 1)): t[i] += v
    return s
names = ('total_bikes', 'total_mechanical', 'total_ebike', 'reports')
# Windows: [start, start + 5 min) of last_reported, closed when the partition's watermark (its
# latest last_reported minus 10 minutes) reaches the end.
latest, partition_of, records = {}, {}, []
for p, _, v in keyed:
    r = json.loads(v)
    pc, t = str(r['postcode']), r['last_reported']
    latest[p] = max(latest.get(p, t), t)
    partition_of[pc] = p
    records.append(dict(r, key=(pc, t // 300 * 300)))
want = sorted(line(pc, [('window_start', iso(start)), ('window_end', iso(start + 300)), ('postcode', pc), *zip(names, s)])
              for (pc, start), s in sums(records).items() if start + 300 <= latest[partition_of[pc]] - 600)
got = rest(clean)
if want != got: problems.append('windows differ:\n' + '\n'.join(want) + '\n--- got:\n' + '\n'.join(got))
if len(want) < 20: problems.append(f'only {len(want)} closed windows: the test data does not close enough')
# Running totals: after the first round (its 30 records), then after all of them (the new lines).
def totals_of(recs):
    return sorted(line(pc, [('postcode', pc), *zip(names, s)])
                  for pc, s in sums([dict(r, key=str(r['postcode'])) for r in recs]).items())
round1 = [json.loads(v) for _, _, v in keyed1]
t1 = rest(totals1)
if t1 != totals_of(round1): problems.append('first totals differ:\n' + '\n'.join(totals_of(round1)) + '\n--- got:\n' + '\n'.join(t1))
t2 = rest((collections.Counter(totals) - collections.Counter(totals1)).elements())
all_records = [json.loads(v) for _, _, v in keyed]
if t2 != totals_of(all_records): problems.append('final totals differ:\n' + '\n'.join(totals_of(all_records)) + '\n--- got:\n' + '\n'.join(t2))
print('\n'.join(problems) or 'same')
PY
assert_eq same "$(head -c 6000 "$SCRATCH/velib.check")" \
  "velib-by-postcode: the closed 5-minute windows per postcode and the running totals, as computed from the records"
assert_contains "$(cat "$SCRATCH/velib.clean")" $'75116\t{"window_start":"2026-11-20T08:55:00Z","window_end":"2026-11-20T09:00:00Z","postcode":"75116","total_bikes":4,' \
  "velib-by-postcode: keyed by the postcode, as text"

# --- traffic-by-hour ---------------------------------------------------------------------------
# datasets/traffic.csv on a topic as traffic-producer fills it (3 partitions, keyed by Date); each
# run prints the running totals of everything read so far: once the file, then twice the file.
topic=traffic-$RANDOM$RANDOM
"$S/kafka-topic" create "$topic" 3 >/dev/null 2>&1
csv2kafka "$KS_ROOT/datasets/traffic.csv" -o "kafka:$topic" --key Date -q
run "$S/traffic-by-hour" --in "$topic" --group "tbh-$topic"
assert_eq 0 "$RC" "traffic-by-hour: exit code ($ERR)"
printf '%s\n' "$OUT" > "$SCRATCH/traffic.1"
csv2kafka "$KS_ROOT/datasets/traffic.csv" -o "kafka:$topic" --key Date -q
run "$S/traffic-by-hour" --in "$topic" --group "tbh-$topic"
assert_eq 0 "$RC" "traffic-by-hour, second run: exit code ($ERR)"
printf '%s\n' "$OUT" > "$SCRATCH/traffic.2"
assert_contains "$ERR" '"tool":"kstream-agg","records_in":2976,' "traffic-by-hour, second run: only the new records are read"
python3 - "$KS_ROOT/datasets/traffic.csv" "$SCRATCH/traffic.1" "$SCRATCH/traffic.2" > "$SCRATCH/traffic.check" <<'PY'
import csv, datetime, json, sys
groups = {}
for row in csv.DictReader(open(sys.argv[1], encoding='utf-8')):
    hour = datetime.datetime.strptime(row['Time'], '%I:%M:%S %p').hour
    g = groups.setdefault((hour, row['Traffic Situation']), [0, 0])
    g[0] += 1
    g[1] += int(row['Total'])
def expected(times):
    def number(x):  # as the tools write a double: shortest text, no ".0"
        return str(int(x)) if x == int(x) else repr(x)
    return sorted(f'{{"hour":{h},"Traffic Situation":{json.dumps(s)},"n":{n * times},"avg_total":{number(total * times / (n * times))}}}'
                  for (h, s), (n, total) in groups.items())
problems = []
for times, path in ((1, sys.argv[2]), (2, sys.argv[3])):
    got = sorted(l.rstrip('\n') for l in open(path, encoding='utf-8'))
    if got != expected(times):
        problems.append(f'after {times} file(s):\n' + '\n'.join(expected(times)) + '\n--- got:\n' + '\n'.join(got))
if len(groups) < 40: problems.append(f'only {len(groups)} groups')
print('\n'.join(problems) or 'same')
PY
assert_eq same "$(head -c 6000 "$SCRATCH/traffic.check")" \
  "traffic-by-hour: count and average Total per hour of day and Traffic Situation, as computed from the CSV"
assert_contains "$(cat "$SCRATCH/traffic.1")" '{"hour":0,"Traffic Situation":"low","n":' "traffic-by-hour: 12:xx AM is hour 0"

# --- tickets-by-priority -----------------------------------------------------------------------
# gen-tickets' tickets (fixed seeds) with their datetimes set STEP seconds apart, on a topic as
# tickets-etl fills it (3 partitions, keyed by client_id). Two cron rounds with a 5-minute grace:
# A (09:00-09:05) closes nothing, B (09:05-09:10) closes the windows of A in every partition of the
# keyed topic that B reaches. --emit update shows every window, open ones too, at their counts so
# far. Then the script runs on (not --drain) with --idle-close: C (10 tickets at 09:20:59) closes
# the windows of B, and the wall clock the window of C: every window comes out once in all.
topic=tickets-$RANDOM$RANDOM
"$S/kafka-topic" create "$topic" 3 >/dev/null 2>&1
tickets() {  # seed start count step
  "$S/gen-tickets" --count "$3" --interval 0 --seed "$1" --start-time "$2" | python3 -c '
import datetime, json, sys
start, step = datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00")), int(sys.argv[2])
for i, line in enumerate(sys.stdin):
    r = json.loads(line)
    r["datetime"] = (start + datetime.timedelta(seconds=step * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(json.dumps(r, ensure_ascii=False, separators=(",", ":")))' "$2" "$4" |
    tee -a "$SCRATCH/tickets.jsonl" | csv2kafka --input-format jsonl -o "kafka:$topic" --key client_id -q
}
cron=(--in "$topic" --out "$topic-out" --group "tp-$topic" --grace 5m)
tickets 11 2026-11-20T09:00:00Z 150 2
run "$S/tickets-by-priority" "${cron[@]}" --drain
assert_eq 0 "$RC" "tickets-by-priority, round A: exit code ($ERR)"
assert_contains "$ERR" '"records_in":150,"records_out":0,"late":0,' "tickets-by-priority, round A: every window still open"
tickets 12 2026-11-20T09:05:00Z 150 2
run "$S/tickets-by-priority" "${cron[@]}" --drain
assert_eq 0 "$RC" "tickets-by-priority, round B: exit code ($ERR)"
assert_eq 0 "$(stat late "$ERR")" "tickets-by-priority, round B: no ticket is late"
await_committed "$topic-by-priorite" 300
pkv "$topic-by-priorite" > "$SCRATCH/tickets.keyed"
pkv "$topic-out" > "$SCRATCH/tickets.out"
run "$S/tickets-by-priority" --in "$topic" --out - --group "tu-$topic" --grace 5m --emit update --drain
assert_eq 0 "$RC" "tickets-by-priority --emit update: exit code ($ERR)"
printf '%s\n' "$OUT" > "$SCRATCH/tickets.update"
cp "$SCRATCH/tickets.jsonl" "$SCRATCH/tickets.ab"

tickets 13 2026-11-20T09:20:59Z 10 0
setsid "$S/tickets-by-priority" --in "$topic" --out "$topic-out" --group "tp-$topic" --grace 2s --idle-close 1 \
  --duration 120 > "$SCRATCH/tickets.live.out" 2> "$SCRATCH/tickets.live.err" &
live=$!
BACKGROUND_PIDS+=("$live")
all_windows=$(python3 -c '
import json, sys
print(len({(r["priorite"], r["type_demande"], r["datetime"][:16]) for r in map(json.loads, open(sys.argv[1]))}))' "$SCRATCH/tickets.jsonl")
assert_eventually 90 "tickets-by-priority (running): every window out, the last one closed by --idle-close" \
  committed_at_least "$topic-out" "$all_windows"
kill -TERM -- "-$live" 2>/dev/null || true
group_gone() { ! kill -0 -- "-$1" 2>/dev/null; }
assert_eventually 30 "tickets-by-priority (running): stops on SIGTERM" group_gone "$live"
pkv "$topic-out" > "$SCRATCH/tickets.all"
python3 - "$SCRATCH"/tickets.{ab,keyed,out,update,jsonl,all} > "$SCRATCH/tickets.check" <<'PY'
import collections, datetime, json, sys
ab, keyed, out, update, every, all_out = ([l.rstrip('\n') for l in open(f, encoding='utf-8') if l.strip()] for f in sys.argv[1:])
keyed = [l.split('\t', 2) for l in keyed]
problems = []
if sorted(v for _, _, v in keyed) != sorted(ab): problems.append('the keyed topic does not hold the tickets, once each')
if any(k != json.loads(v)['priorite'] for _, k, v in keyed): problems.append('a keyed ticket whose key is not its priorite')
def epoch(iso): return int(datetime.datetime.fromisoformat(iso.replace('Z', '+00:00')).timestamp())
def iso(s): return datetime.datetime.fromtimestamp(s, tz=datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
def counts(lines):
    c = collections.Counter()
    for r in map(json.loads, lines): c[(r['priorite'], r['type_demande'], epoch(r['datetime']) // 60 * 60)] += 1
    return c
def line(pr, ty, start, n):
    key = json.dumps([pr, ty], ensure_ascii=False, separators=(',', ':'))
    return key + '\t' + json.dumps({'window_start': iso(start), 'window_end': iso(start + 60), 'priorite': pr,
                                    'type_demande': ty, 'tickets': n}, ensure_ascii=False, separators=(',', ':'))
rest = lambda lines: sorted(l.split('\t', 1)[1] for l in lines)
# Round B closes the windows whose end is at most the latest datetime of their keyed partition
# minus the 5-minute grace.
latest, partition_of = {}, {}
for p, k, v in keyed:
    latest[p] = max(latest.get(p, 0), epoch(json.loads(v)['datetime']))
    partition_of[k] = p
want = sorted(line(pr, ty, s, n) for (pr, ty, s), n in counts(ab).items() if s + 60 <= latest[partition_of[pr]] - 300)
if rest(out) != want: problems.append('round B differs:\n' + '\n'.join(want) + '\n--- got:\n' + '\n'.join(rest(out)))
if len(want) < 20: problems.append(f'only {len(want)} windows closed by round B')
# --emit update: the last result of each window holds its count so far.
last = {}
for r in map(json.loads, update): last[(r['priorite'], r['type_demande'], epoch(r['window_start']))] = r['tickets']
if last != dict(counts(ab)): problems.append(f'--emit update: last counts {sorted(last.items())} != {sorted(counts(ab).items())}')
# Every window of A, B and C once, from the cron runs and the running one together.
want_all = sorted(line(pr, ty, s, n) for (pr, ty, s), n in counts(every).items())
if rest(all_out) != want_all: problems.append('all windows differ:\n' + '\n'.join(want_all) + '\n--- got:\n' + '\n'.join(rest(all_out)))
print('\n'.join(problems) or 'same')
PY
assert_eq same "$(head -c 6000 "$SCRATCH/tickets.check")" \
  "tickets-by-priority: tickets per priorite and type_demande per minute, as computed from the tickets"
assert_eq 0 "$(stat late "$(cat "$SCRATCH/tickets.live.err")")" "tickets-by-priority (running): no ticket is late"

# Usage.
for script in velib-by-postcode traffic-by-hour tickets-by-priority; do
  run "$S/$script" --help
  assert_eq 0 "$RC" "$script --help"
  run "$S/$script" --bogus
  assert_eq 2 "$RC" "$script: a bad option exits 2"
done

finish
