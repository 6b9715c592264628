#!/usr/bin/env bash
# --limit, --rate, --duration and --loop are honoured when producing to the real broker.
# (Wide time bounds: these check behaviour, not speed.)
source "$(dirname "$0")/lib.sh"

seq 1 1000 | awk 'BEGIN { print "n,sq" } { print $1 "," $1 * $1 }' > "$SCRATCH/in.csv"

# --limit: exactly N, the first N.
topic=$(new_topic limit 1)
run csv2kafka "$SCRATCH/in.csv" -o "kafka:$topic" --limit 250 --stats
assert_eq 0 "$RC" "--limit exit code ($ERR)"
topic_values "$topic" > "$SCRATCH/limit.jsonl"
assert_eq 250 "$(wc -l < "$SCRATCH/limit.jsonl")" "--limit 250 messages"
assert_eq '{"n":250,"sq":62500}' "$(tail -1 "$SCRATCH/limit.jsonl")" "--limit stops at row 250"

# --rate: 40 records at 20/s take about 2 s (the first goes at once: 39 intervals of 50 ms).
topic=$(new_topic rate 1)
start=$(now)
run csv2kafka "$SCRATCH/in.csv" -o "kafka:$topic" --rate 20 --limit 40
took=$(elapsed "$start")
assert_eq 0 "$RC" "--rate exit code ($ERR)"
assert_between 1.8 4.0 "$took" "--rate 20 --limit 40 seconds"
# Evenly spaced, not bursts: the broker timestamps of consecutive messages are ~50 ms apart.
kcat -C -b "$KAFKA_BROKERS" -t "$topic" -e -q -o beginning -f '%T\n' 2>/dev/null > "$SCRATCH/ts"
assert_eq 40 "$(wc -l < "$SCRATCH/ts")" "--rate messages"
max_gap=$(awk 'NR > 1 { g = $1 - p; if (g > m) m = g } { p = $1 } END { print m }' "$SCRATCH/ts")
min_gap=$(awk 'NR > 2 { g = $1 - p; if (m == "" || g < m) m = g } { p = $1 } END { print m }' "$SCRATCH/ts")
assert_between 0 150 "$max_gap" "--rate largest gap between messages (ms)"
assert_between 20 80 "$min_gap" "--rate smallest gap between messages (ms)"

# --duration with --loop: a bounded endless sensor. 2 s at 50/s is about 100 records.
topic=$(new_topic duration 1)
start=$(now)
run csv2kafka "$SCRATCH/in.csv" -o "kafka:$topic" --loop --rate 50 --duration 2 --stats
took=$(elapsed "$start")
assert_eq 0 "$RC" "--duration exit code ($ERR)"
assert_between 1.9 4.0 "$took" "--duration 2 seconds"
count=$(topic_values "$topic" | wc -l)
assert_between 85 110 "$count" "--duration 2 --rate 50 messages"
assert_eq "$count" "$(stat delivered "$ERR")" "delivered equals messages on the topic"

# --loop repeats the input: 3 rows looped to --limit 7 gives rows 1,2,3,1,2,3,1.
printf 'n\n1\n2\n3\n' > "$SCRATCH/three.csv"
topic=$(new_topic loop 1)
run csv2kafka "$SCRATCH/three.csv" -o "kafka:$topic" --loop --limit 7
assert_eq 0 "$RC" "--loop exit code ($ERR)"
assert_eq "1 2 3 1 2 3 1" "$(topic_values "$topic" | sed 's/{"n":\([0-9]*\)}/\1/' | xargs)" "--loop order"

# Output to a pipe streams: with --rate 4 the lines arrive spread out, not all at exit.
csv2kafka "$SCRATCH/three.csv" --rate 4 | while read -r _; do now; done > "$SCRATCH/arrivals"
spread=$(awk 'NR == 1 { f = $1 } { l = $1 } END { printf "%.2f", l - f }' "$SCRATCH/arrivals")
assert_between 0.4 1.5 "$spread" "seconds between the first and last line on a pipe at --rate 4"

# A quiet pipe does not hold --duration back: stdin that stays open ends on time.
set +e
(printf 'n\n1\n'; sleep 4) | csv2kafka --duration 1 --stats > "$SCRATCH/quiet.out" 2> "$SCRATCH/quiet.err"
rc=${PIPESTATUS[1]}
set -e
assert_eq 0 "$rc" "--duration on a quiet pipe: exit code"
assert_between 0.9 2 "$(stat elapsed_s "$(cat "$SCRATCH/quiet.err")")" "--duration 1 on a quiet pipe: seconds"
assert_eq '{"n":1}' "$(cat "$SCRATCH/quiet.out")" "--duration on a quiet pipe: the row that came is out"

# --replay-time: rows 0, 1 and 3 s apart replayed 2x faster take about 1.5 s.
printf 'ts,v\n2026-01-01T00:00:00Z,a\n2026-01-01T00:00:01Z,b\n2026-01-01T00:00:03Z,c\n' > "$SCRATCH/times.csv"
start=$(now)
run csv2kafka "$SCRATCH/times.csv" --replay-time ts --speed 2
took=$(elapsed "$start")
assert_eq 0 "$RC" "--replay-time exit code ($ERR)"
assert_eq 3 "$(wc -l <<<"$OUT")" "--replay-time rows"
assert_between 1.4 2.5 "$took" "--replay-time --speed 2 seconds"

# Progress on a terminal (a pseudo-terminal from script(1)), once a second, cleared at the end;
# none when stderr is not a terminal.
printf 'n\n' > "$SCRATCH/slow.csv"; seq 1 25 >> "$SCRATCH/slow.csv"
script -qc "csv2kafka '$SCRATCH/slow.csv' --rate 10 -o /dev/null" /dev/null > "$SCRATCH/tty.out"
assert_contains "$(cat "$SCRATCH/tty.out")" "csv2kafka: 11 records" "progress on a terminal"
run csv2kafka "$SCRATCH/slow.csv" --rate 10 -o /dev/null
assert_eq "" "$ERR" "no progress when stderr is not a terminal"

# SIGTERM mid-run: a clean stop, exit 0, everything produced is delivered.
topic=$(new_topic sigterm 1)
csv2kafka "$SCRATCH/in.csv" -o "kafka:$topic" --loop --rate 200 --stats 2>"$SCRATCH/term.err" &
pid=$!
sleep 1.5
kill -TERM $pid
set +e; wait $pid; rc=$?; set -e
assert_eq 0 "$rc" "exit code after SIGTERM"
delivered=$(stat delivered "$(cat "$SCRATCH/term.err")")
assert_eq "$delivered" "$(topic_values "$topic" | wc -l)" "delivered after SIGTERM equals messages on the topic"

finish
