#!/usr/bin/env bash
# kill -9 of kbatch-dump at any moment, then a restart: every record in exactly one file.
source "$(dirname "$0")/lib.sh"

total=60000
topic=$(new_topic kill9 3)
seq 1 $total | awk 'BEGIN { print "id,k" } { print $1 "," $1 % 11 }' > "$SCRATCH/in.csv"
run csv2kafka "$SCRATCH/in.csv" -o "kafka:$topic" -k k
assert_eq 0 "$RC" "produce ($ERR)"

mkdir "$SCRATCH/out"
group="kill9-$topic"
# Small batches and a short age so that kills land before, during and after renames and commits.
for delay in 0.3 0.5 0.7 0.9 1.1 0.4; do
  kbatch-dump -i "kafka:$topic" -g "$group" -o "$SCRATCH/out" --batch-records 700 --batch-seconds 0.2 \
    -X max.partition.fetch.bytes=4096 -X queued.max.messages.kbytes=64 -X session.timeout.ms=6000 2>>"$SCRATCH/kills.err" &
  pid=$!
  BACKGROUND_PIDS+=("$pid")
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
partial=$(find "$SCRATCH/out" -name "*.jsonl" -exec cat {} + | wc -l)
echo "records in files after the kills: $partial of $total"

# The killed members still own partitions until the group evicts them (6 s session timeout):
# -e must wait for those partitions, not exit with them undrained.
run kbatch-dump -i "kafka:$topic" -g "$group" -o "$SCRATCH/out" -e --stats
assert_eq 0 "$RC" "final run ($ERR)"
cat "$SCRATCH"/out/*.jsonl | sed 's/{"id":\([0-9]*\),.*/\1/' | sort -n > "$SCRATCH/ids"
seq 1 $total > "$SCRATCH/expected"
assert_files_equal "$SCRATCH/expected" "$SCRATCH/ids" "every record exactly once after kill -9 and restart"
assert_eq "" "$(ls -A "$SCRATCH/out" | grep '^\.' || true)" "no temporary files left"
# Offset ranges of a partition's files do not overlap and leave no gaps.
for p in 0000 0001 0002; do
  ls "$SCRATCH/out" | grep -- "-p$p-" | sed 's/.*-p[0-9]*-\([0-9]*\)-\([0-9]*\)\.jsonl/\1 \2/' |
    awk -v p=$p 'NR == 1 && $1 != 0 { print "partition " p " starts at " $1 }
                 NR > 1 && $1 != last + 1 { print "partition " p ": gap or overlap at " $1 } { last = $2 }' \
    > "$SCRATCH/ranges-$p"
  assert_eq "" "$(cat "$SCRATCH/ranges-$p")" "contiguous offset ranges in partition $p"
done

finish
