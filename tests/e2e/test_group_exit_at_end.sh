#!/usr/bin/env bash
# -e inside a consumer group: two kbatch-dump processes share one group and one directory, both
# exit 0 at the end, and together they wrote every record exactly once. A later run with the same
# group writes only what came since.
source "$(dirname "$0")/lib.sh"

topic=$(new_topic group 4)
seq 1 20000 | awk 'BEGIN { print "id,part" } { print $1 "," $1 % 7 }' > "$SCRATCH/in.csv"
run csv2kafka "$SCRATCH/in.csv" -o "kafka:$topic" -k part
assert_eq 0 "$RC" "produce ($ERR)"

mkdir "$SCRATCH/out"
group="dump-$topic"
kbatch-dump -i "kafka:$topic" -g "$group" -d "$SCRATCH/out" -e --batch-records 1000 --stats 2>"$SCRATCH/a.err" &
a=$!
kbatch-dump -i "kafka:$topic" -g "$group" -d "$SCRATCH/out" -e --batch-records 1000 --stats 2>"$SCRATCH/b.err" &
b=$!
BACKGROUND_PIDS+=("$a" "$b")
set +e
wait $a; rc_a=$?
wait $b; rc_b=$?
set -e
assert_eq 0 "$rc_a" "first member exit code ($(cat "$SCRATCH/a.err"))"
assert_eq 0 "$rc_b" "second member exit code ($(cat "$SCRATCH/b.err"))"

ids() { cat "$SCRATCH"/out/*.jsonl | sed 's/{"id":\([0-9]*\),.*/\1/' | sort -n; }
ids > "$SCRATCH/ids"
seq 1 20000 > "$SCRATCH/expected"
assert_files_equal "$SCRATCH/expected" "$SCRATCH/ids" "every record exactly once across both members"
written_a=$(stat records_written "$(cat "$SCRATCH/a.err")")
written_b=$(stat records_written "$(cat "$SCRATCH/b.err")")
assert_eq 20000 $((written_a + written_b)) "records written by the two members"

# 500 more records: a second cron run of the same group writes exactly those.
seq 20001 20500 | awk 'BEGIN { print "id,part" } { print $1 "," $1 % 7 }' > "$SCRATCH/more.csv"
run csv2kafka "$SCRATCH/more.csv" -o "kafka:$topic" -k part
run kbatch-dump -i "kafka:$topic" -g "$group" -d "$SCRATCH/out" -e --stats
assert_eq 0 "$RC" "second cron run ($ERR)"
assert_eq 500 "$(stat records_written "$ERR")" "second cron run writes only the new records"
ids > "$SCRATCH/ids"
seq 1 20500 > "$SCRATCH/expected"
assert_files_equal "$SCRATCH/expected" "$SCRATCH/ids" "every record exactly once after the second run"

# Nothing new: exits at once with nothing written, and no empty files.
files_before=$(ls "$SCRATCH/out" | wc -l)
start=$(now)
run kbatch-dump -i "kafka:$topic" -g "$group" -d "$SCRATCH/out" -e --stats
assert_eq 0 "$RC" "third cron run ($ERR)"
assert_eq 0 "$(stat records_written "$ERR")" "third cron run writes nothing"
assert_eq "$files_before" "$(ls "$SCRATCH/out" | wc -l)" "no new files"
assert_between 0 15 "$(elapsed "$start")" "an empty cron run exits promptly"

# More members than partitions: the idle member exits too.
topic=$(new_topic group-one 1)
run csv2kafka "$SCRATCH/more.csv" -o "kafka:$topic"
mkdir "$SCRATCH/one"
kbatch-dump -i "kafka:$topic" -g "one-$topic" -d "$SCRATCH/one" -e 2>"$SCRATCH/c.err" &
c=$!
kbatch-dump -i "kafka:$topic" -g "one-$topic" -d "$SCRATCH/one" -e 2>"$SCRATCH/d.err" &
d=$!
BACKGROUND_PIDS+=("$c" "$d")
set +e
wait $c; rc_c=$?
wait $d; rc_d=$?
set -e
assert_eq "0 0" "$rc_c $rc_d" "both members of a one-partition topic exit 0"
assert_eq 500 "$(cat "$SCRATCH"/one/*.jsonl | wc -l)" "one-partition topic records"

finish
