#!/usr/bin/env bash
# The world goes wrong: an unreachable broker, a missing topic, an output directory that is
# missing, not a directory, or full. A clear one-line error, exit 1, no hang, nothing lost.
source "$(dirname "$0")/lib.sh"

printf 'a\n1\n2\n' > "$SCRATCH/in.csv"

# Broker unreachable: exit 1 once the timeout has passed, naming the brokers. Not before the 3 s;
# after them, a generous 10 s for a busy machine to end the process (the bound catches a hang).
for tool in csv2kafka kbatch-dump; do
  mkdir -p "$SCRATCH/out"
  start=$(now)
  if [[ $tool == csv2kafka ]]; then
    run csv2kafka "$SCRATCH/in.csv" -o kafka:nowhere -b 127.0.0.1:1 --timeout 3
  else
    run kbatch-dump -i kafka:nowhere -g g -o "$SCRATCH/out" -b 127.0.0.1:1 --timeout 3
  fi
  assert_eq 1 "$RC" "$tool unreachable: exit code"
  assert_contains "$ERR" "$tool: cannot reach Kafka at 127.0.0.1:1 within 3 s" "$tool unreachable: message"
  assert_eq 1 "$(grep -c . <<<"$ERR")" "$tool unreachable: one line"
  assert_between 2.5 13 "$(elapsed "$start")" "$tool unreachable: seconds until exit"
done

# A topic that does not exist (automatic creation is off): exit 1 at once with the fix.
run csv2kafka "$SCRATCH/in.csv" -o kafka:no-such-topic
assert_eq 1 "$RC" "missing topic: exit code"
assert_contains "$ERR" "topic 'no-such-topic' does not exist" "missing topic: message"
run kbatch-dump -i kafka:no-such-topic -g g -o "$SCRATCH/out"
assert_eq 1 "$RC" "kbatch-dump missing topic: exit code"
assert_contains "$ERR" "topic 'no-such-topic' does not exist" "kbatch-dump missing topic: message"

topic=$(new_topic dirs 1)
seq 1 5000 | awk 'BEGIN { print "id,pad" } { printf "%d,%0100d\n", $1, $1 }' > "$SCRATCH/pad.csv"
run csv2kafka "$SCRATCH/pad.csv" -o "kafka:$topic"
assert_eq 0 "$RC" "produce ($ERR)"

# Missing directory, and a path under a regular file.
run kbatch-dump -i "kafka:$topic" -g "dirs-$topic" -o "$SCRATCH/missing" -e
assert_eq 1 "$RC" "missing dir: exit code"
assert_eq "kbatch-dump: output directory $SCRATCH/missing: No such file or directory" "$ERR" "missing dir: message"
touch "$SCRATCH/file"
run kbatch-dump -i "kafka:$topic" -g "dirs-$topic" -o "$SCRATCH/file/sub" -e
assert_eq 1 "$RC" "ENOTDIR: exit code"
assert_eq "kbatch-dump: output directory $SCRATCH/file/sub: Not a directory" "$ERR" "ENOTDIR: message"

# A full disk mid-batch (files limited to 100 KB: EFBIG, as root ignores permissions): exit 1
# with the file named, no offsets committed, no file or temporary file left behind, and the
# --stats summary printed all the same (records read, none written).
mkdir "$SCRATCH/full"
run prlimit --fsize=100000 kbatch-dump -i "kafka:$topic" -g "dirs-$topic" -o "$SCRATCH/full" -e --stats
assert_eq 1 "$RC" "full disk: exit code"
assert_eq "0" "$(stat records_written "$ERR")" "full disk: --stats summary, nothing written"
assert_at_least 1 "$(stat records_in "$ERR")" "full disk: --stats summary, records read"
assert_contains "$ERR" "kbatch-dump: writing $SCRATCH/full/.kbatch-dump." "full disk: message names the file"
assert_contains "$ERR" "File too large" "full disk: message gives the reason"
assert_eq "" "$(ls -A "$SCRATCH/full")" "full disk: nothing left in the directory"
# Nothing was committed: with room again, the same group writes all 5000 records.
run kbatch-dump -i "kafka:$topic" -g "dirs-$topic" -o "$SCRATCH/full" -e --stats
assert_eq 0 "$RC" "after the full disk: exit code ($ERR)"
assert_eq 5000 "$(stat records_written "$ERR")" "after the full disk: every record written"
assert_eq 5000 "$(cat "$SCRATCH"/full/*.jsonl | wc -l)" "after the full disk: lines in files"

# csv2kafka -o FILE on a full disk (/dev/full: ENOSPC): exit 1, clear message.
run csv2kafka "$SCRATCH/in.csv" -o /dev/full
assert_eq 1 "$RC" "csv2kafka ENOSPC: exit code"
assert_contains "$ERR" "csv2kafka: writing /dev/full: No space left on device" "csv2kafka ENOSPC: message"

# A row over the topic's size limit: the error names its file and line (one message a batch, so
# that the broker refuses that row alone), from a file and from JSON lines on stdin.
small=small-$RANDOM$RANDOM
"$KS_ROOT/scripts/kafka-topic" create "$small" 1 --config max.message.bytes=300 >/dev/null 2>&1
{ echo "id,text"; echo "1,short"; echo "2,$(printf 'x%.0s' $(seq 1 600))"; echo "3,short"; } > "$SCRATCH/big.csv"
run csv2kafka "$SCRATCH/big.csv" -o "kafka:$small" -X batch.num.messages=1
assert_eq 1 "$RC" "too large: exit code"
assert_contains "$ERR" "1 of 3 messages not delivered: $SCRATCH/big.csv:3: Broker: Message size too large" "too large: the row is named"
csv2kafka "$SCRATCH/big.csv" > "$SCRATCH/big.jsonl"
run csv2kafka --input-format jsonl -o "kafka:$small" -X batch.num.messages=1 < "$SCRATCH/big.jsonl"
assert_eq 1 "$RC" "too large, stdin: exit code"
assert_contains "$ERR" "1 of 3 messages not delivered: -:2: Broker: Message size too large" "too large, stdin: the line is named"

# A closed pipe downstream is success.
seq 1 200000 | awk 'BEGIN { print "n" } { print }' > "$SCRATCH/many.csv"
set +e
csv2kafka "$SCRATCH/many.csv" 2>"$SCRATCH/pipe.err" | head -1 > /dev/null
rc=${PIPESTATUS[0]}
set -e
assert_eq 0 "$rc" "closed pipe: exit code"
assert_eq "" "$(cat "$SCRATCH/pipe.err")" "closed pipe: nothing on stderr"

finish
