#!/usr/bin/env bash
# kstream-filter from and to the real broker: exactly-once output as a read_committed reader sees
# it, keys, headers and timestamps, offsets committed when nothing matches, two processes in one
# group, dead letters in the transaction, tombstones, and the at-least-once and stdout outputs.
source "$(dirname "$0")/lib.sh"

# Input: keyed records with a header, one tombstone.
in=$(new_topic fin 3)
for i in $(seq 1 30); do echo "k$i:{\"n\":$i,\"even\":$(( i % 2 == 0 ? 1 : 0 ))}"; done |
  kcat -P -b "$KAFKA_BROKERS" -t "$in" -K: -H origin=test 2>/dev/null
echo "k0:" | kcat -P -b "$KAFKA_BROKERS" -t "$in" -K: -Z 2>/dev/null

# Exactly-once (the default): the matching records, their keys and headers, nothing else.
out=$(new_topic fout 3)
run kstream-filter -i "kafka:$in" -g "f-$in" -o "kafka:$out" --where 'even = 1' -e --stats
assert_eq 0 "$RC" "eos: exit code ($ERR)"
assert_eq 15 "$(stat records_out "$ERR")" "eos: records out"
assert_eq 1 "$(stat tombstones "$ERR")" "eos: the tombstone is skipped and counted"
expected=$(for i in $(seq 2 2 30); do echo "k$i|origin=test|{\"n\":$i,\"even\":1}"; done | sort)
await_committed "$out" 15
assert_eq "$expected" "$(committed "$out" -f '%k|%h|%s\n' | sort)" "eos: keys, headers and values as a read_committed reader sees them"
assert_eq "$(committed "$in" -f '%k %T\n' | awk '{ n = substr($1, 2) } n > 0 && n % 2 == 0' | sort)" \
  "$(committed "$out" -f '%k %T\n' | sort)" "eos: message timestamps kept"
# The offsets are committed: a second run reads nothing.
run kstream-filter -i "kafka:$in" -g "f-$in" -o "kafka:$out" --where 'even = 1' -e --stats
assert_eq 0 "$(stat records_in "$ERR")" "eos: nothing read again"

# A filter that matches nothing still commits its offsets to the end.
none=$(new_topic fnone 1)
run kstream-filter -i "kafka:$in" -g "none-$in" -o "kafka:$none" --where 'n > 1000' -e --stats
assert_eq 30 "$(stat dropped "$ERR")" "no match: every record read and dropped"
assert_eq "" "$(committed "$none")" "no match: nothing out"
run kstream-filter -i "kafka:$in" -g "none-$in" -o "kafka:$none" --where 'n > 1000' -e --stats
assert_eq 0 "$(stat records_in "$ERR")" "no match: the offsets were committed"

# --key: a new key computed from the record.
rekeyed=$(new_topic frekey 3)
run kstream-filter -i "kafka:$in" -g "rekey-$in" -o "kafka:$rekeyed" --key 'concat("n-", n % 3)' --set 'm=n % 3' -e
assert_eq 0 "$RC" "key: exit code ($ERR)"
await_committed "$rekeyed" 30
assert_eq "" "$(committed "$rekeyed" -f '%k %s\n' | awk '{ split($2, a, "\"m\":"); sub("}", "", a[2]); if ($1 != "n-" a[2]) print }')" \
  "key: every key is the computed one"
assert_eq 30 "$(committed "$rekeyed" | wc -l)" "key: every record"

# Two processes in one group split the partitions and together write each record once.
big=$(new_topic fbig 4)
seq 1 20000 | awk 'BEGIN { print "id,k" } { print $1 "," $1 % 13 }' | csv2kafka -o "kafka:$big" -k k -q
both=$(new_topic fboth 4)
kstream-filter -i "kafka:$big" -g "two-$big" -o "kafka:$both" --where 'id % 2 = 0' -e --stats 2>"$SCRATCH/one.err" &
one=$!
kstream-filter -i "kafka:$big" -g "two-$big" -o "kafka:$both" --where 'id % 2 = 0' -e --stats 2>"$SCRATCH/two.err" &
two=$!
BACKGROUND_PIDS+=("$one" "$two")
set +e; wait "$one"; rc1=$?; wait "$two"; rc2=$?; set -e
assert_eq "0 0" "$rc1 $rc2" "two members: both exit 0 ($(cat "$SCRATCH/one.err" "$SCRATCH/two.err" | tail -4))"
in1=$(stat records_in "$(cat "$SCRATCH/one.err")")
in2=$(stat records_in "$(cat "$SCRATCH/two.err")")
assert_eq 20000 "$((in1 + in2))" "two members: every record read once between them ($in1 + $in2)"
await_committed "$both" 10000
assert_eq "$(seq 2 2 20000)" "$(committed "$both" | sed 's/{"id":\([0-9]*\),.*/\1/' | sort -n)" "two members: the output has each match once"

# Dead letters to a topic go in the same transaction as the output.
mixed=$(new_topic fmixed 1)
printf '%s\n' '{"v":1}' 'oops' '{"v":"x"}' '{"v":4}' | kcat -P -b "$KAFKA_BROKERS" -t "$mixed" 2>/dev/null
good=$(new_topic fgood 1)
dlq=$(new_topic fdlq 1)
run kstream-filter -i "kafka:$mixed" -g "dl-$mixed" -o "kafka:$good" --where 'v > 0' -e --on-error dead-letter --dead-letter "kafka:$dlq"
assert_eq 0 "$RC" "dead letters: exit code ($ERR)"
await_committed "$good" 2
await_committed "$dlq" 2
assert_eq "$(printf '%s\n' '{"v":1}' '{"v":4}')" "$(committed "$good")" "dead letters: the good records"
# (simdjson's wording for text that is not JSON depends on what follows it in memory: not checked)
assert_eq "$(printf '%s\n' \
  "{\"reason\":\"invalid JSON: ...\",\"tool\":\"kstream-filter\",\"source\":\"$mixed\",\"partition\":0,\"offset\":1,\"data\":\"oops\"}" \
  "{\"reason\":\"> needs numbers, but v is a string (\\\"x\\\") in: v > 0\",\"tool\":\"kstream-filter\",\"source\":\"$mixed\",\"partition\":0,\"offset\":2,\"data\":\"{\\\"v\\\":\\\"x\\\"}\"}")" \
  "$(committed "$dlq" | sed 's/"invalid JSON: [^"]*"/"invalid JSON: ..."/')" "dead letters: envelopes on the topic, read_committed"
assert_contains "$ERR" "2 bad records written to kafka:$dlq" "dead letters: counted"
# --on-error fail: the transaction before the bad record is committed; a restart stops there again.
failout=$(new_topic ffail 1)
run kstream-filter -i "kafka:$mixed" -g "fail-$mixed" -o "kafka:$failout" -e
assert_eq 65 "$RC" "fail: exit code"
assert_contains "$ERR" "kstream-filter: $mixed [0] at offset 1: invalid JSON" "fail: names topic, partition and offset"
await_committed "$failout" 1
assert_eq '{"v":1}' "$(committed "$failout")" "fail: the record before is committed"
run kstream-filter -i "kafka:$mixed" -g "fail-$mixed" -o "kafka:$failout" -e
assert_eq 65 "$RC" "fail: a restart stops at the same record"
assert_eq '{"v":1}' "$(committed "$failout")" "fail: nothing written twice"

# At least once: an uninterrupted run writes every match once.
alo=$(new_topic falo 3)
run kstream-filter -i "kafka:$in" -g "alo-$in" -o "kafka:$alo" --where 'even = 0' --guarantee at-least-once -e --stats
assert_eq 0 "$RC" "at-least-once: exit code ($ERR)"
assert_eq 0 "$(stat transactions "$ERR")" "at-least-once: no transactions"
assert_eq "$(for i in $(seq 1 2 29); do echo "{\"n\":$i,\"even\":0}"; done | sort)" "$(committed "$alo" | sort)" "at-least-once: the output"

# Kafka to standard output: offsets committed after the output is flushed.
run kstream-filter -i "kafka:$in" -g "stdout-$in" --where 'n <= 3' -e
assert_eq "$(printf '%s\n' '{"n":1,"even":0}' '{"n":2,"even":1}' '{"n":3,"even":0}')" "$(sort <<<"$OUT")" "stdout: the records"
run kstream-filter -i "kafka:$in" -g "stdout-$in" --where 'n <= 3' -e
assert_eq "" "$OUT" "stdout: committed, not read again"

# A second process with the same --instance-id fences the first, which stops with a clear message;
# the output stays exactly once.
zin=$(new_topic fzin 2)
zout=$(new_topic fzout 2)
seq 1 3000 | awk 'BEGIN { print "id" } { print }' > "$SCRATCH/z.csv"
csv2kafka "$SCRATCH/z.csv" -o "kafka:$zin" --rate 500 -q &
producer=$!
BACKGROUND_PIDS+=("$producer")
kstream-filter -i "kafka:$zin" -g "z-$zin" -o "kafka:$zout" --instance-id same -v 2>"$SCRATCH/first.err" &
first=$!
BACKGROUND_PIDS+=("$first")
for _ in $(seq 300); do grep -q "assigned $zin" "$SCRATCH/first.err" && break; sleep 0.1; done
kstream-filter -i "kafka:$zin" -g "z-$zin" -o "kafka:$zout" --instance-id same --duration 3 2>"$SCRATCH/second.err" &
second=$!
BACKGROUND_PIDS+=("$second")
set +e; timeout 60 tail --pid="$first" -f /dev/null; wait "$first"; rc1=$?; wait "$second"; rc2=$?; set -e
assert_eq 1 "$rc1" "fenced: the first process exits 1"
assert_contains "$(cat "$SCRATCH/first.err")" "kstream-filter: fenced: another process took over transactional.id 'z-$zin.same'" "fenced: the message"
assert_eq 0 "$rc2" "fenced: the second process runs on ($(cat "$SCRATCH/second.err"))"
wait "$producer"
run kstream-filter -i "kafka:$zin" -g "z-$zin" -o "kafka:$zout" --instance-id same -e
assert_eq "$(seq 1 3000)" "$(committed "$zout" | sed 's/{"id":\([0-9]*\)}/\1/' | sort -n)" "fenced: every record once"

# A record that cannot be produced (here over a small message.max.bytes) is never lost: the
# transaction aborts, is retried a few times, then the tool stops with exit 1 having committed
# nothing; at least once, it stops before committing past it.
large=$(new_topic flarge 1)
(echo '{"n":1,"s":"short"}'; printf '{"n":2,"s":"%s"}\n' "$(head -c 600 /dev/zero | tr '\0' x)"; echo '{"n":3,"s":"short"}') |
  kcat -P -b "$KAFKA_BROKERS" -t "$large" 2>/dev/null
largeout=$(new_topic flargeout 1)
run kstream-filter -i "kafka:$large" -g "large-$large" -o "kafka:$largeout" --set 'double=concat(s, s)' -X message.max.bytes=1000 -e
assert_eq 1 "$RC" "too large: exit code"
assert_contains "$ERR" "kstream-filter: transactions aborted 5 times in a row, the last one because 1 record(s) could not be produced: Broker: Message size too large" "too large: the reason"
assert_eq "" "$(committed "$largeout")" "too large: nothing committed"
run kstream-filter -i "kafka:$large" -g "large-$large" -o "kafka:$largeout" --set 'double=concat(s, s)' -e --stats
assert_eq 3 "$(stat records_out "$ERR")" "too large: a run that can produce them starts from the beginning"
run kstream-filter -i "kafka:$large" -g "large-alo-$large" -o "kafka:$largeout" --set 'double=concat(s, s)' -X message.max.bytes=1000 --guarantee at-least-once -e
assert_eq 1 "$RC" "too large, at least once: exit code"
assert_contains "$ERR" "1 of 3 messages not delivered: Broker: Message size too large" "too large, at least once: the reason"
run kstream-filter -i "kafka:$large" -g "large-alo-$large" -o - -e
assert_eq 3 "$(wc -l <<<"$OUT")" "too large, at least once: nothing was committed past it"

# A missing topic, in or out, is exit 1 naming it (the group is not joined).
run kstream-filter -i "kafka:$in" -g "missing-$in" -o kafka:no-such-topic
assert_eq 1 "$RC" "missing output topic: exit code"
assert_contains "$ERR" "kstream-filter: topic 'no-such-topic' does not exist" "missing output topic: message"
run kstream-filter -i kafka:no-such-topic -g "missing-$in" -o "kafka:$out"
assert_eq 1 "$RC" "missing input topic: exit code"
run kstream-filter -i "kafka:$in" -g "unreachable" -o "kafka:$out" -b 127.0.0.1:1 --timeout 2
assert_eq 1 "$RC" "unreachable broker: exit code"
assert_contains "$ERR" "kstream-filter: cannot reach Kafka at 127.0.0.1:1 for 2 s" "unreachable broker: message"

# Exactly-once to another cluster is refused with a hint.
run kstream-filter -i "kafka:$in" -g g -o "kafka://127.0.0.1:1/x"
assert_eq 2 "$RC" "eos across clusters: exit code"

finish
