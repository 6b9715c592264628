#!/usr/bin/env bash
# kbatch-dump --instance-id (static membership): a member restarted after kill -9 with the same id
# takes its partitions back at once, instead of waiting until the group evicts the dead member
# (the session timeout, 45 s); every record still lands in exactly one file.
source "$(dirname "$0")/lib.sh"

total=3000
topic=$(new_topic static 2)
seq 1 $total | awk 'BEGIN { print "id" } { print }' > "$SCRATCH/in.csv"
run csv2kafka "$SCRATCH/in.csv" -o "kafka:$topic"
assert_eq 0 "$RC" "produce ($ERR)"

mkdir "$SCRATCH/out"
group="static-$topic"
kbatch-dump -i "kafka:$topic" -g "$group" -o "$SCRATCH/out" --batch-records 100 --instance-id cron-1 \
  -X max.partition.fetch.bytes=2048 2>"$SCRATCH/first.err" &
pid=$!
BACKGROUND_PIDS+=("$pid")
wait_for 60 bash -c "ls '$SCRATCH'/out/*.jsonl >/dev/null 2>&1" || fail "the first member wrote no file ($(cat "$SCRATCH/first.err"))"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true

started=$(now)
run kbatch-dump -i "kafka:$topic" -g "$group" -o "$SCRATCH/out" -e --instance-id cron-1 --stats
assert_eq 0 "$RC" "restart: exit code ($ERR)"
assert_between 0 30 "$(elapsed "$started")" "restart with the same --instance-id: the partitions come back before the 45 s session timeout"
assert_eq "$(seq 1 $total)" "$(cat "$SCRATCH"/out/*.jsonl | sed 's/{"id":\([0-9]*\)}/\1/' | sort -n)" "every record in exactly one file"

finish
