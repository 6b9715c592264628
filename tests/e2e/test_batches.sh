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

# --batch-seconds: a batch is closed once its first record is 1 s old, also when no more records
# come. Three groups of 10 records, each sent once the file of the group before is out, give one
# file per group however slow the machine is (a group is one write to the producer's input, so
# its records reach the dumper together, a second before its batch closes); --idle-timeout then
# ends the run 4 s after the last record. Times have lower bounds only (no file before its batch
# is 1 s old, no exit before 4 s without records) and a generous upper bound against a hang.
topic=$(new_topic seconds 1)
mkdir "$SCRATCH/seconds"
kbatch-dump -i "kafka:$topic" -g "s-$topic" -o "$SCRATCH/seconds" --batch-seconds 1 --idle-timeout 4 --stats -v \
  2>"$SCRATCH/seconds.err" &
dumper=$!
BACKGROUND_PIDS+=("$dumper")
# One producer for the three groups, reading a pipe that the test holds open: no process start
# between a file coming out and the next group.
mkfifo "$SCRATCH/rows"
csv2kafka -o "kafka:$topic" < "$SCRATCH/rows" 2>"$SCRATCH/producer.err" &
producer=$!
BACKGROUND_PIDS+=("$producer")
exec 7>"$SCRATCH/rows"
echo n >&7
# Produce only once the dumper holds the partition, so records reach it as they come.
assert_eventually 60 "batch-seconds: the dumper is assigned the partition" grep -q "assigned $topic \[0\]" "$SCRATCH/seconds.err"
files_out() { [[ $(ls "$SCRATCH/seconds" | wc -l) -ge $1 ]]; }
for group in 1 2 3; do
  sent=$(now)
  seq $((group * 10 - 9)) $((group * 10)) >&7
  assert_eventually 60 "batch-seconds: the file of group $group" files_out "$group"
  assert_at_least 0.99 "$(elapsed "$sent")" "batch-seconds: seconds until the file of group $group is out"
done
exec 7>&-
set +e; wait $producer; rc=$?; set -e
assert_eq 0 "$rc" "batch-seconds: producer exit code ($(cat "$SCRATCH/producer.err"))"
set +e; wait $dumper; rc=$?; set -e
assert_eq 0 "$rc" "batch-seconds/idle-timeout: exit code ($(cat "$SCRATCH/seconds.err"))"
assert_between 3.99 20 "$(elapsed "$sent")" "idle-timeout: seconds after the last record"
assert_eq "10 10 10" "$(for f in "$SCRATCH"/seconds/*; do wc -l < "$f"; done | xargs)" "batch-seconds: one file per group"
assert_eq "$(seq 1 30)" "$(cat "$SCRATCH"/seconds/* | sed 's/{"n":\([0-9]*\)}/\1/')" "batch-seconds: all records in order"

# --limit: stops after N records, writes them, exits 0; the next run continues after them.
mkdir "$SCRATCH/limit"
run kbatch-dump -i "kafka:$topic" -g "l-$topic" -o "$SCRATCH/limit" --limit 12
assert_eq 0 "$RC" "limit: exit code ($ERR)"
assert_eq 12 "$(cat "$SCRATCH"/limit/* | wc -l)" "limit: records written"
run kbatch-dump -i "kafka:$topic" -g "l-$topic" -o "$SCRATCH/limit" -e
assert_eq "$(seq 1 30)" "$(cat "$SCRATCH"/limit/* | sed 's/{"n":\([0-9]*\)}/\1/')" "limit: the next run continues after them"

# SIGTERM: the open batch is written and committed, exit 0. The signal comes once a batch is open
# (its temporary file exists). Nothing outside shows how many of the 100 records the dumper has
# read by then: all of them (they come in one fetch) unless it was stalled right there, so the
# checks take the count from the file's name: the file holds exactly the records up to its last
# offset, and the next run writes exactly the rest.
topic=$(new_topic term 1)
seq 1 100 | awk 'BEGIN { print "n" } { print }' | csv2kafka -o "kafka:$topic"
mkdir "$SCRATCH/term"
kbatch-dump -i "kafka:$topic" -g "t-$topic" -o "$SCRATCH/term" 2>"$SCRATCH/term.err" &
dumper=$!
BACKGROUND_PIDS+=("$dumper")
batch_open() { compgen -G "$SCRATCH/term/.kbatch-dump.*.tmp" >/dev/null; }
assert_eventually 60 "SIGTERM: a batch is open" batch_open
kill -TERM $dumper
set +e; wait $dumper; rc=$?; set -e
assert_eq 0 "$rc" "SIGTERM: exit code ($(cat "$SCRATCH/term.err"))"
file=$(ls "$SCRATCH/term")
last=$(sed -n "s/^$topic-p0000-00000000000000000000-\([0-9]\{20\}\)\.jsonl\$/\1/p" <<<"$file")
assert_eq yes "$([[ -n $last ]] && echo yes || echo "no: [$file]")" "SIGTERM: the open batch is written"
read_before=$((10#${last:-0} + 1))
assert_eq "$(seq 1 "$read_before")" "$(sed 's/{"n":\([0-9]*\)}/\1/' "$SCRATCH/term/$file")" "SIGTERM: the batch holds the records up to its last offset"
echo "records in the batch at SIGTERM: $read_before of 100"
run kbatch-dump -i "kafka:$topic" -g "t-$topic" -o "$SCRATCH/term" -e --stats
assert_eq $((100 - read_before)) "$(stat records_written "$ERR")" "SIGTERM: offsets were committed"

finish
