#!/usr/bin/env bash
# The example pipelines in scripts/, each run alone against the test broker, outputs checked exactly.
source "$(dirname "$0")/lib.sh"
S=$KS_ROOT/scripts

# traffic-producer: the dataset in order, looping, bounded by --duration. 2 s at 40/s is at most
# 2 * 40 + 1 messages; how many fewer a busy machine lets out (a slow start eats into the 2 s) is
# not a property: the lower bound is loose (a tenth).
topic=traffic-$RANDOM$RANDOM
run "$S/traffic-producer" --topic "$topic" --partitions 1 --rate 40 --duration 2
assert_eq 0 "$RC" "traffic-producer: exit code ($ERR)"
topic_values "$topic" > "$SCRATCH/traffic.jsonl"
count=$(wc -l < "$SCRATCH/traffic.jsonl")
assert_between 8 81 "$count" "traffic-producer: messages in 2 s at 40/s"
csv2kafka "$KS_ROOT/datasets/traffic.csv" --limit "$count" > "$SCRATCH/traffic.expected"
assert_files_equal "$SCRATCH/traffic.expected" "$SCRATCH/traffic.jsonl" "traffic-producer: the first rows of the dataset as JSON"
assert_eq '{"Time":"12:00:00 AM","Date":1,"Day of the week":"Tuesday","CarCount":22,"BikeCount":4,"BusCount":3,"TruckCount":7,"Total":36,"Traffic Situation":"low"}' \
  "$(head -1 "$SCRATCH/traffic.jsonl")" "traffic-producer: first message"
assert_eq "1" "$(kcat -C -b "$KAFKA_BROKERS" -t "$topic" -e -q -o beginning -c 1 -f '%k' 2>/dev/null)" "traffic-producer: keyed by Date"

# tickets-etl: reproducible tickets (seed, start time) end up in batch files, each exactly once.
# How many tickets the 3 s let through depends on when gen-tickets and csv2kafka each got going:
# the lower bound is loose (a tenth of 30). The upper bounds hold on any machine: gen-tickets
# writes ticket i no sooner than i * 0.1 s after its start (after $started), and csv2kafka sends
# it after that (2 ms of slack for the timestamps' truncation to ms); csv2kafka stops 3 s after
# its own start, which is before its first message (a generous 10 s more for a busy machine).
topic=tickets-$RANDOM$RANDOM
started=$(now_ms)
run "$S/tickets-etl" --topic "$topic" --dir "$SCRATCH/tickets" --interval 0.1 --duration 3 \
  --batch-seconds 1 --seed 7 --start-time 2026-01-01T00:00:00Z
assert_eq 0 "$RC" "tickets-etl: exit code ($ERR)"
cat "$SCRATCH"/tickets/*.jsonl | sort > "$SCRATCH/tickets.got"
n=$(wc -l < "$SCRATCH/tickets.got")
kcat -C -b "$KAFKA_BROKERS" -t "$topic" -e -q -o beginning -f '%T\n' 2>/dev/null | sort -n > "$SCRATCH/tickets.ts"
first_ts=$(head -1 "$SCRATCH/tickets.ts")
last_ts=$(tail -1 "$SCRATCH/tickets.ts")
assert_between 3 $((1 + (last_ts - started + 2) / 100)) "$n" "tickets-etl: tickets in 3 s at 10/s"
assert_between 0 13000 $((last_ts - first_ts)) "tickets-etl: ms between the first and the last message"
"$S/gen-tickets" --count "$n" --interval 0.1 --seed 7 --start-time 2026-01-01T00:00:00Z | sort > "$SCRATCH/tickets.expected"
assert_files_equal "$SCRATCH/tickets.expected" "$SCRATCH/tickets.got" "tickets-etl: the generated tickets, each once"
assert_eq "$(topic_values "$topic" | sort)" "$(cat "$SCRATCH/tickets.got")" "tickets-etl: files hold what the topic holds"
assert_contains "$(head -1 "$SCRATCH/tickets.expected")" '"datetime":"2026-01-01T00:00:' "tickets-etl: ticket format"

# urban-traffic-batches: 20,000 rows to CSV batches, every row back, stops when idle. The idle
# time counts from the dumper's start, before it has joined its group and fetched: 10 s leaves a
# busy machine room for that.
topic=urban-$RANDOM$RANDOM
run "$S/urban-traffic-batches" --topic "$topic" --dir "$SCRATCH/urban" --idle-timeout 10
assert_eq 0 "$RC" "urban-traffic-batches: exit code ($ERR)"
assert_csv_batches_hold "$KS_ROOT/datasets/urban_traffic.csv" "$SCRATCH/urban" "urban-traffic-batches"

# Usage errors.
run "$S/traffic-producer" --bogus
assert_eq 2 "$RC" "traffic-producer: bad option exit code"
run "$S/tickets-etl" --help
assert_eq 0 "$RC" "tickets-etl --help"

finish
