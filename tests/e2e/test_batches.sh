#!/usr/bin/env bash
# kbatch-dump's batches: --batch-records, --batch-seconds, --idle-timeout, and the CSV rule for
# fields that appear or disappear.
source "$(dirname "$0")/lib.sh"

# CSV columns come from a batch's first record. A record missing a field gets an empty cell; a
# record with a new field closes the batch and starts a new file with its own columns.
topic=$(new_topic fields 1)
printf '%s\n' '{"a":1,"b":"x"}' '{"b":"y","a":2}' '{"a":3}' '{"a":4,"b":"z","c":true}' '{"a":5,"c":false}' \
  '{"a":6,"b":null,"c":true,"d":{"e":[1,2]}}' | kcat -P -b "$KAFKA_BROKERS" -t "$topic" 2>/dev/null
mkdir "$SCRATCH/fields"
run kbatch-dump -i "kafka:$topic" -g "f-$topic" -o "$SCRATCH/fields" --output-format csv -e
assert_eq 0 "$RC" "fields: exit code ($ERR)"
assert_eq "$(printf '%s\n' \
  "$topic-p0000-00000000000000000000-00000000000000000002.csv" \
  "$topic-p0000-00000000000000000003-00000000000000000004.csv" \
  "$topic-p0000-00000000000000000005-00000000000000000005.csv")" "$(ls "$SCRATCH/fields")" "fields: one file per set of columns"
assert_eq "$(printf 'a,b\n1,x\n2,y\n3,')" "$(cat "$SCRATCH/fields/$topic-p0000-00000000000000000000-00000000000000000002.csv")" "fields: first file"
assert_eq "$(printf 'a,b,c\n4,z,true\n5,,false')" "$(cat "$SCRATCH/fields/$topic-p0000-00000000000000000003-00000000000000000004.csv")" "fields: second file"
assert_eq "$(printf 'a,b,c,d\n6,,true,"{""e"":[1,2]}"')" "$(cat "$SCRATCH/fields/$topic-p0000-00000000000000000005-00000000000000000005.csv")" "fields: nested values as JSON text"

# --batch-records: 2,500 records in batches of 1,000 give files of 1000, 1000 and 500.
topic=$(new_topic records 1)
seq 1 2500 | awk 'BEGIN { print "n" } { print }' | csv2kafka -o "kafka:$topic"
mkdir "$SCRATCH/records"
run kbatch-dump -i "kafka:$topic" -g "r-$topic" -o "$SCRATCH/records" -e --batch-records 1000 -v
assert_eq 0 "$RC" "batch-records: exit code ($ERR)"
assert_eq "1000 1000 500" "$(for f in "$SCRATCH"/records/*; do wc -l < "$f"; done | xargs)" "batch-records: file sizes"
# A drain (-e) does not let the broker hold a fetch for long (docs/conventions.md: fetch.wait.max.ms).
assert_eq 1 "$(grep -c '^kbatch-dump: property fetch.wait.max.ms=20$' <<<"$ERR")" "-e: fetches wait at most 20 ms"

# --batch-seconds: a slow producer (10/s for 3 s) and 1 s batches give several files with all
# 30 records; --idle-timeout ends the run 4 s after the last record.
topic=$(new_topic seconds 1)
mkdir "$SCRATCH/seconds"
kbatch-dump -i "kafka:$topic" -g "s-$topic" -o "$SCRATCH/seconds" --batch-seconds 1 --idle-timeout 4 --stats -v \
  2>"$SCRATCH/seconds.err" &
dumper=$!
BACKGROUND_PIDS+=("$dumper")
# Produce only once the dumper holds the partition, so records reach it as they come.
for _ in $(seq 100); do grep -q "assigned $topic \[0\]" "$SCRATCH/seconds.err" && break; sleep 0.1; done
seq 1 30 | awk 'BEGIN { print "n" } { print }' | csv2kafka -o "kafka:$topic" --rate 10
producer_done=$(now)
set +e; wait $dumper; rc=$?; set -e
assert_eq 0 "$rc" "batch-seconds/idle-timeout: exit code ($(cat "$SCRATCH/seconds.err"))"
assert_between 3.5 7 "$(elapsed "$producer_done")" "idle-timeout: seconds after the last record"
files=$(ls "$SCRATCH/seconds" | wc -l)
assert_between 3 5 "$files" "batch-seconds: files for 3 s of records in 1 s batches"
assert_eq "$(seq 1 30)" "$(cat "$SCRATCH"/seconds/* | sed 's/{"n":\([0-9]*\)}/\1/')" "batch-seconds: all records in order"

# --limit: stops after N records, writes them, exits 0; the next run continues after them.
mkdir "$SCRATCH/limit"
run kbatch-dump -i "kafka:$topic" -g "l-$topic" -o "$SCRATCH/limit" --limit 12
assert_eq 0 "$RC" "limit: exit code ($ERR)"
assert_eq 12 "$(cat "$SCRATCH"/limit/* | wc -l)" "limit: records written"
run kbatch-dump -i "kafka:$topic" -g "l-$topic" -o "$SCRATCH/limit" -e
assert_eq "$(seq 1 30)" "$(cat "$SCRATCH"/limit/* | sed 's/{"n":\([0-9]*\)}/\1/')" "limit: the next run continues after them"

# SIGTERM: the open batch is written and committed, exit 0.
topic=$(new_topic term 1)
seq 1 100 | awk 'BEGIN { print "n" } { print }' | csv2kafka -o "kafka:$topic"
mkdir "$SCRATCH/term"
kbatch-dump -i "kafka:$topic" -g "t-$topic" -o "$SCRATCH/term" 2>"$SCRATCH/term.err" &
dumper=$!
BACKGROUND_PIDS+=("$dumper")
for _ in $(seq 50); do [[ -n $(ls -A "$SCRATCH/term") ]] && break; sleep 0.1; done
sleep 1
kill -TERM $dumper
set +e; wait $dumper; rc=$?; set -e
assert_eq 0 "$rc" "SIGTERM: exit code ($(cat "$SCRATCH/term.err"))"
assert_eq "$topic-p0000-00000000000000000000-00000000000000000099.jsonl" "$(ls "$SCRATCH/term")" "SIGTERM: the open batch is written"
run kbatch-dump -i "kafka:$topic" -g "t-$topic" -o "$SCRATCH/term" -e --stats
assert_eq 0 "$(stat records_written "$ERR")" "SIGTERM: offsets were committed"

finish
