#!/usr/bin/env bash
# --limit, --rate, --duration and --loop are honoured when producing to the real broker.
# Time is checked only where a busy machine cannot break it (CI machines are busy): nothing goes
# before its time, totals are at least what the schedule takes, and upper bounds are generous
# ones that only catch a hang or an option that is ignored. Never the gap between two messages:
# a stalled producer catches up by sending the late records at once, as it should.
source "$(dirname "$0")/lib.sh"

seq 1 1000 | awk 'BEGIN { print "n,sq" } { print $1 "," $1 * $1 }' > "$SCRATCH/in.csv"

# --limit: exactly N, the first N.
topic=$(new_topic limit 1)
run csv2kafka "$SCRATCH/in.csv" -o "kafka:$topic" --limit 250 --stats
assert_eq 0 "$RC" "--limit exit code ($ERR)"
topic_values "$topic" > "$SCRATCH/limit.jsonl"
assert_eq 250 "$(wc -l < "$SCRATCH/limit.jsonl")" "--limit 250 messages"
assert_eq '{"n":250,"sq":62500}' "$(tail -1 "$SCRATCH/limit.jsonl")" "--limit stops at row 250"

# --rate: 40 records at 20/s. The first goes at once, record i at first + i * 50 ms or later: the
# run takes at least 39 intervals (1.95 s, less 10 ms of slack for the clocks' truncation).
# The upper bound (10x) only catches a rate that is misread.
topic=$(new_topic rate 1)
start=$(now)
run csv2kafka "$SCRATCH/in.csv" -o "kafka:$topic" --rate 20 --limit 40
took=$(elapsed "$start")
assert_eq 0 "$RC" "--rate exit code ($ERR)"
assert_between 1.94 20 "$took" "--rate 20 --limit 40 seconds"
# No message before its time, none in a burst ahead of the schedule: by the broker timestamps
# (taken by the producer as it sends each message, in whole ms: 2 ms of slack for truncation),
# message i is at least i * 50 ms after the first.
kcat -C -b "$KAFKA_BROKERS" -t "$topic" -e -q -o beginning -f '%T\n' 2>/dev/null > "$SCRATCH/ts"
assert_eq 40 "$(wc -l < "$SCRATCH/ts")" "--rate messages"
early=$(awk 'NR == 1 { first = $1 } $1 < first + (NR - 1) * 50 - 2 {
  printf "message %d at +%d ms, due at +%d ms; ", NR - 1, $1 - first, (NR - 1) * 50 }' "$SCRATCH/ts")
assert_eq "" "$early" "--rate 20: messages before their time"

# --duration with --loop: a bounded endless sensor, 2 s at 50/s. The 2 s count from the process's
# start and record i goes no sooner than i / 50 s after the first, so at most 2 * 50 + 1 records
# and a run of at least 2 s. How many fewer a busy machine lets out (a slow start eats into the
# 2 s) is not a property: the lower bound is loose (a tenth), the upper bound on time generous.
topic=$(new_topic duration 1)
start=$(now)
run csv2kafka "$SCRATCH/in.csv" -o "kafka:$topic" --loop --rate 50 --duration 2 --stats
took=$(elapsed "$start")
assert_eq 0 "$RC" "--duration exit code ($ERR)"
assert_between 1.9 12 "$took" "--duration 2 seconds"
count=$(topic_values "$topic" | wc -l)
assert_between 10 101 "$count" "--duration 2 --rate 50 messages"
assert_eq "$count" "$(stat delivered "$ERR")" "delivered equals messages on the topic"

# --loop repeats the input: 3 rows looped to --limit 7 gives rows 1,2,3,1,2,3,1.
printf 'n\n1\n2\n3\n' > "$SCRATCH/three.csv"
topic=$(new_topic loop 1)
run csv2kafka "$SCRATCH/three.csv" -o "kafka:$topic" --loop --limit 7
assert_eq 0 "$RC" "--loop exit code ($ERR)"
assert_eq "1 2 3 1 2 3 1" "$(topic_values "$topic" | sed 's/{"n":\([0-9]*\)}/\1/' | xargs)" "--loop order"

# Output to a pipe streams: with --rate 4 the first line is on the pipe while csv2kafka is still
# pacing the others (1,000 rows at 4/s take over 4 minutes), not held back until exit.
mkfifo "$SCRATCH/paced"
cat "$SCRATCH/paced" > "$SCRATCH/arrivals" &
reader=$!
csv2kafka "$SCRATCH/in.csv" --rate 4 > "$SCRATCH/paced" &
pacer=$!
BACKGROUND_PIDS+=("$reader" "$pacer")
assert_eventually 60 "--rate 4 on a pipe: the first line arrives" test -s "$SCRATCH/arrivals"
assert_eq yes "$(running "$pacer" && echo yes || echo "no: csv2kafka already ended")" \
  "--rate 4 on a pipe: the first line is out while later ones wait for their time"
kill -TERM "$pacer"
set +e; wait "$pacer"; rc=$?; wait "$reader"; set -e
assert_eq 0 "$rc" "--rate 4 on a pipe: exit code after SIGTERM"
assert_eq "$(csv2kafka "$SCRATCH/in.csv" --limit "$(wc -l < "$SCRATCH/arrivals")")" "$(cat "$SCRATCH/arrivals")" \
  "--rate 4 on a pipe: the first rows, in order"

# A quiet pipe does not hold --duration back: csv2kafka ends while its stdin stays open (the test
# holds the pipe open until csv2kafka has ended, or for a minute), after at least its 1 s.
mkfifo "$SCRATCH/quiet"
start=$(now)
csv2kafka --duration 1 --stats < "$SCRATCH/quiet" > "$SCRATCH/quiet.out" 2> "$SCRATCH/quiet.err" &
pid=$!
BACKGROUND_PIDS+=("$pid")
exec 8>"$SCRATCH/quiet"
printf 'n\n1\n' >&8
ended() { ! running "$pid"; }
assert_eventually 60 "--duration 1 on a quiet pipe: csv2kafka ends while its stdin is open" ended
exec 8>&-
set +e; wait "$pid"; rc=$?; set -e
assert_eq 0 "$rc" "--duration on a quiet pipe: exit code"
assert_between 0.99 11 "$(elapsed "$start")" "--duration 1 on a quiet pipe: seconds"
assert_eq '{"n":1}' "$(cat "$SCRATCH/quiet.out")" "--duration on a quiet pipe: the row that came is out"

# --replay-time: rows 0, 10 and 30 s apart replayed 20x faster take 1.5 s, never less. Ignoring
# --speed would take 30 s: a generous upper bound (10x) still tells the two apart.
printf 'ts,v\n2026-01-01T00:00:00Z,a\n2026-01-01T00:00:10Z,b\n2026-01-01T00:00:30Z,c\n' > "$SCRATCH/times.csv"
start=$(now)
run csv2kafka "$SCRATCH/times.csv" --replay-time ts --speed 20
took=$(elapsed "$start")
assert_eq 0 "$RC" "--replay-time exit code ($ERR)"
assert_eq 3 "$(wc -l <<<"$OUT")" "--replay-time rows"
assert_between 1.49 15 "$took" "--replay-time --speed 20 seconds"

# Progress on a terminal (a pseudo-terminal from script(1)), at most once a second, cleared at the
# end; none when stderr is not a terminal. The run takes at least 2.4 s, so there is a progress
# line; how many records it counts depends on the machine's speed and is not checked.
printf 'n\n' > "$SCRATCH/slow.csv"; seq 1 25 >> "$SCRATCH/slow.csv"
script -qc "csv2kafka '$SCRATCH/slow.csv' --rate 10 -o /dev/null" /dev/null > "$SCRATCH/tty.out"
assert_matches "$(cat "$SCRATCH/tty.out")" $'^\rcsv2kafka: [0-9]+ records, [0-9]+/s ' "progress on a terminal"
assert_eq "$(printf '\r\033[K' | od -c)" "$(tail -c 4 "$SCRATCH/tty.out" | od -c)" "progress cleared at the end"
run csv2kafka "$SCRATCH/slow.csv" --rate 10 -o /dev/null
assert_eq "" "$ERR" "no progress when stderr is not a terminal"

# SIGTERM mid-run (once messages are on the topic): a clean stop, exit 0, everything produced is
# delivered.
topic=$(new_topic sigterm 1)
csv2kafka "$SCRATCH/in.csv" -o "kafka:$topic" --loop --rate 200 --stats 2>"$SCRATCH/term.err" &
pid=$!
BACKGROUND_PIDS+=("$pid")
# (-c: a reader that waits for the end (-e) of a topic being written may never see it)
producing() { [[ $(kcat -C -b "$KAFKA_BROKERS" -t "$topic" -q -o beginning -c 50 -e 2>/dev/null | wc -l) -ge 50 ]]; }
assert_eventually 60 "SIGTERM: messages on the topic before the signal" producing
kill -TERM $pid
set +e; wait $pid; rc=$?; set -e
assert_eq 0 "$rc" "exit code after SIGTERM"
delivered=$(stat delivered "$(cat "$SCRATCH/term.err")")
assert_eq "$delivered" "$(topic_values "$topic" | wc -l)" "delivered after SIGTERM equals messages on the topic"

finish
