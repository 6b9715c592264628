#!/usr/bin/env bash
# -e inside a consumer group: two kbatch-dump processes share one group and one directory, both
# exit 0 at the end, and together they wrote every record exactly once. A later run with the same
# group writes only what came since.
source "$(dirname "$0")/lib.sh"

# two_members TOPIC GROUP DIR NAME1 NAME2 [ARGS...]: two kbatch-dump -e processes of GROUP at
# once, stderr in $SCRATCH/NAME1.err and NAME2.err; sets RC_1 and RC_2 to their exit codes.
two_members() {
  local topic=$1 group=$2 dir=$3 e1=$4 e2=$5 p1 p2
  shift 5
  kbatch-dump -i "kafka:$topic" -g "$group" -o "$dir" -e "$@" 2>"$SCRATCH/$e1.err" &
  p1=$!
  kbatch-dump -i "kafka:$topic" -g "$group" -o "$dir" -e "$@" 2>"$SCRATCH/$e2.err" &
  p2=$!
  BACKGROUND_PIDS+=("$p1" "$p2")
  set +e
  wait "$p1"; RC_1=$?
  wait "$p2"; RC_2=$?
  set -e
}

topic=$(new_topic group 4)
seq 1 20000 | awk 'BEGIN { print "id,part" } { print $1 "," $1 % 7 }' > "$SCRATCH/in.csv"
run csv2kafka "$SCRATCH/in.csv" -o "kafka:$topic" -k part
assert_eq 0 "$RC" "produce ($ERR)"

mkdir "$SCRATCH/out"
group="dump-$topic"
two_members "$topic" "$group" "$SCRATCH/out" a b --batch-records 1000 --stats
assert_eq 0 "$RC_1" "first member exit code ($(cat "$SCRATCH/a.err"))"
assert_eq 0 "$RC_2" "second member exit code ($(cat "$SCRATCH/b.err"))"

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
run kbatch-dump -i "kafka:$topic" -g "$group" -o "$SCRATCH/out" -e --stats
assert_eq 0 "$RC" "second cron run ($ERR)"
assert_eq 500 "$(stat records_written "$ERR")" "second cron run writes only the new records"
ids > "$SCRATCH/ids"
seq 1 20500 > "$SCRATCH/expected"
assert_files_equal "$SCRATCH/expected" "$SCRATCH/ids" "every record exactly once after the second run"

# Nothing new: exits at once with nothing written, and no empty files.
files_before=$(ls "$SCRATCH/out" | wc -l)
start=$(now)
run kbatch-dump -i "kafka:$topic" -g "$group" -o "$SCRATCH/out" -e --stats
assert_eq 0 "$RC" "third cron run ($ERR)"
assert_eq 0 "$(stat records_written "$ERR")" "third cron run writes nothing"
assert_eq "$files_before" "$(ls "$SCRATCH/out" | wc -l)" "no new files"
assert_between 0 15 "$(elapsed "$start")" "an empty cron run exits promptly"

# More members than partitions: the idle member exits too.
topic=$(new_topic group-one 1)
run csv2kafka "$SCRATCH/more.csv" -o "kafka:$topic"
mkdir "$SCRATCH/one"
two_members "$topic" "one-$topic" "$SCRATCH/one" c d
assert_eq "0 0" "$RC_1 $RC_2" "both members of a one-partition topic exit 0"
assert_eq 500 "$(cat "$SCRATCH"/one/*.jsonl | wc -l)" "one-partition topic records"

finish
