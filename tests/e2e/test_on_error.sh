#!/usr/bin/env bash
# Bad rows and bad messages under each --on-error mode: never a crash, never silently lost.
source "$(dirname "$0")/lib.sh"

# Line 3: too few fields; line 4: text after a closing quote; line 5: 'x' in an int column
# (--schema); lines 6-7: a good row with an embedded newline; line 8: not UTF-8.
printf 'id,name\n1,a\n2\n3,"b"c\nx,d\n5,"e\nf"\n6,\xff\n7,g\n' > "$SCRATCH/bad.csv"

# fail (default): exit 65 at the first bad row, naming file:line; rows before it are delivered.
topic=$(new_topic fail 1)
run csv2kafka "$SCRATCH/bad.csv" -o "kafka:$topic" --schema id:int
assert_eq 65 "$RC" "fail: exit code"
assert_contains "$ERR" "csv2kafka: $SCRATCH/bad.csv:3: expected 2 fields, found 1" "fail: message"
assert_eq '{"id":1,"name":"a"}' "$(topic_values "$topic")" "fail: rows before the bad one are delivered"

# skip: good rows delivered, bad ones counted and reported with file:line.
topic=$(new_topic skip 1)
run csv2kafka "$SCRATCH/bad.csv" -o "kafka:$topic" --schema id:int --on-error skip --stats
assert_eq 0 "$RC" "skip: exit code ($ERR)"
assert_eq 4 "$(stat bad "$ERR")" "skip: bad count"
assert_eq 3 "$(stat delivered "$ERR")" "skip: delivered count"
assert_contains "$ERR" "bad.csv:4: unexpected character 'c' after a closing quote in field 2 (skipped)" "skip: broken quoting reported"
assert_contains "$ERR" "bad.csv:5: column 'id': 'x' is not a valid int (skipped)" "skip: schema error reported"
assert_contains "$ERR" "bad.csv:8: not valid UTF-8 (skipped)" "skip: encoding error reported (line after a 2-line row)"
printf '%s\n' '{"id":1,"name":"a"}' '{"id":5,"name":"e\nf"}' '{"id":7,"name":"g"}' > "$SCRATCH/good.jsonl"
topic_values "$topic" > "$SCRATCH/skip.jsonl"
assert_files_equal "$SCRATCH/good.jsonl" "$SCRATCH/skip.jsonl" "skip: good rows on the topic"

# dead-letter to a file: exact envelopes with the original bytes (base64 when not UTF-8).
topic=$(new_topic dl 1)
run csv2kafka "$SCRATCH/bad.csv" -o "kafka:$topic" --schema id:int --on-error dead-letter --dead-letter "$SCRATCH/dl.jsonl"
assert_eq 0 "$RC" "dead-letter: exit code ($ERR)"
cat > "$SCRATCH/dl.expected" <<EOF
{"reason":"expected 2 fields, found 1","tool":"csv2kafka","source":"$SCRATCH/bad.csv","line":3,"data":"2"}
{"reason":"unexpected character 'c' after a closing quote in field 2","tool":"csv2kafka","source":"$SCRATCH/bad.csv","line":4,"data":"3,\"b\"c"}
{"reason":"column 'id': 'x' is not a valid int","tool":"csv2kafka","source":"$SCRATCH/bad.csv","line":5,"data":"x,d"}
{"reason":"not valid UTF-8","tool":"csv2kafka","source":"$SCRATCH/bad.csv","line":8,"data_base64":"Niz/"}
EOF
assert_files_equal "$SCRATCH/dl.expected" "$SCRATCH/dl.jsonl" "dead-letter file"
topic_values "$topic" > "$SCRATCH/dl-good.jsonl"
assert_files_equal "$SCRATCH/good.jsonl" "$SCRATCH/dl-good.jsonl" "dead-letter: good rows on the topic"

# dead-letter to a topic.
topic=$(new_topic dl2 1)
dlq=$(new_topic dlq 1)
run csv2kafka "$SCRATCH/bad.csv" -o "kafka:$topic" --schema id:int --on-error dead-letter --dead-letter "kafka:$dlq"
assert_eq 0 "$RC" "dead-letter topic: exit code ($ERR)"
topic_values "$dlq" > "$SCRATCH/dlq.jsonl"
assert_files_equal "$SCRATCH/dl.expected" "$SCRATCH/dlq.jsonl" "dead-letter topic"

# JSON lines in: invalid JSON and non-objects are bad records too.
printf '{"a":1}\n{"a":\nnot json\n[1,2]\n{"a":2}\n' > "$SCRATCH/in.jsonl"
run csv2kafka --input-format jsonl "$SCRATCH/in.jsonl" --on-error skip --stats
assert_eq 0 "$RC" "jsonl skip: exit code ($ERR)"
assert_eq "$(printf '{"a":1}\n{"a":2}')" "$OUT" "jsonl skip: good lines passed through"
assert_eq 3 "$(stat bad "$ERR")" "jsonl skip: bad count"
assert_contains "$ERR" "in.jsonl:4: not a JSON object (skipped)" "jsonl: non-object reported"

# kbatch-dump: messages that are not JSON objects.
topic=$(new_topic dumpbad 1)
printf '{"id":1}\nnot json\n{"id":2}\n[3]\n{"id":4} trailing\n{"id":5}\n' |
  kcat -P -b "$KAFKA_BROKERS" -t "$topic" 2>/dev/null
for format in jsonl csv; do
  mkdir "$SCRATCH/fail-$format" "$SCRATCH/skip-$format" "$SCRATCH/dl-$format"
  # fail: exit 65 naming topic, partition and offset; the record before it is written and committed.
  run kbatch-dump -i "kafka:$topic" -g "f-$format-$topic" -o "$SCRATCH/fail-$format" --output-format "$format" -e
  assert_eq 65 "$RC" "kbatch-dump $format fail: exit code"
  assert_contains "$ERR" "kbatch-dump: $topic [0] at offset 1: invalid JSON" "kbatch-dump $format fail: message"
  assert_eq "$topic-p0000-00000000000000000000-00000000000000000000.$format" "$(ls "$SCRATCH/fail-$format")" "kbatch-dump $format fail: the good record before it is in a file"
  run kbatch-dump -i "kafka:$topic" -g "f-$format-$topic" -o "$SCRATCH/fail-$format" --output-format "$format" -e
  assert_eq 65 "$RC" "kbatch-dump $format fail: a restart stops at the same record"
  assert_contains "$ERR" "at offset 1:" "kbatch-dump $format fail: same offset after restart"

  run kbatch-dump -i "kafka:$topic" -g "s-$format-$topic" -o "$SCRATCH/skip-$format" --output-format "$format" -e --on-error skip --stats
  assert_eq 0 "$RC" "kbatch-dump $format skip: exit code ($ERR)"
  assert_eq 3 "$(stat bad "$ERR")" "kbatch-dump $format skip: bad count"
  assert_eq 3 "$(stat records_written "$ERR")" "kbatch-dump $format skip: written count"

  run kbatch-dump -i "kafka:$topic" -g "d-$format-$topic" -o "$SCRATCH/dl-$format" --output-format "$format" -e --on-error dead-letter --dead-letter "$SCRATCH/dl-$format.jsonl"
  assert_eq 0 "$RC" "kbatch-dump $format dead-letter: exit code ($ERR)"
  assert_eq "1 3 4" "$(sed 's/.*"offset":\([0-9]*\).*/\1/' "$SCRATCH/dl-$format.jsonl" | xargs)" "kbatch-dump $format dead-letter offsets"
  assert_contains "$(sed -n 3p "$SCRATCH/dl-$format.jsonl")" "\"source\":\"$topic\",\"partition\":0,\"offset\":4,\"data\":\"{\\\"id\\\":4} trailing\"}" "kbatch-dump $format dead-letter envelope"
done
assert_eq "$(printf '{"id":1}\n{"id":2}\n{"id":5}')" "$(cat "$SCRATCH"/skip-jsonl/*.jsonl)" "kbatch-dump jsonl skip: output"
assert_eq "$(printf 'id\n1\n2\n5')" "$(cat "$SCRATCH"/skip-csv/*.csv)" "kbatch-dump csv skip: output"

finish
