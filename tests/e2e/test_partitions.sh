#!/usr/bin/env bash
# Where csv2kafka's messages land: keyless rows of a file a batch at a time in turn over the
# partitions, keyed rows on the partition Java's client (and kcat's murmur2_random) picks, and
# every row once, in order, when the producer queue is full again and again; compression only
# when asked for.
source "$(dirname "$0")/lib.sh"

# Partition -> its values in offset order, one "P:v1 v2 ..." line per partition.
layout() {
  kcat -C -b "$KAFKA_BROKERS" -t "$1" -e -q -o beginning -f '%p %s\n' 2>/dev/null |
    awk '{ v[$1] = v[$1] " " $2 } END { for (p in v) print p ":" v[p] }' | sort -n
}
# Runs of consecutive numbers in a partition's values: "1-1024 3073-4096 ..." (input order kept).
runs() {
  awk -F: '{ n = split($2, a, " "); out = ""; s = a[1]; for (i = 2; i <= n + 1; i++) {
      if (i <= n && a[i] == a[i - 1] + 1) continue
      out = out (out == "" ? "" : " ") s "-" a[i - 1]; s = a[i] }
    print $1 ":" out }'
}

# 10,000 keyless rows over 3 partitions: batches of 1,024 rows go to partitions 0, 1, 2, 0, ...
{ echo n; seq 1 10000; } > "$SCRATCH/seq.csv"
topic=$(new_topic keyless 3)
run csv2kafka "$SCRATCH/seq.csv" -o "kafka:$topic" --stats
assert_eq 0 "$RC" "keyless csv2kafka exit code ($ERR)"
assert_eq 10000 "$(stat delivered "$ERR")" "keyless rows delivered"
layout "$topic" | sed 's/ {"n":\([0-9]*\)}/ \1/g' | runs > "$SCRATCH/runs"
cat > "$SCRATCH/expected-runs" <<'EOF'
0:1-1024 3073-4096 6145-7168 9217-10000
1:1025-2048 4097-5120 7169-8192
2:2049-3072 5121-6144 8193-9216
EOF
assert_files_equal "$SCRATCH/expected-runs" "$SCRATCH/runs" "keyless rows: a batch at a time, partitions in turn"

# Keyed rows: the partition of each key is murmur2's, as kcat -X partitioner=murmur2_random
# (and the Java client) puts it.
{ echo "k,v"; for i in $(seq 1 300); do echo "key-$((i % 97)),$i"; done; } > "$SCRATCH/keyed.csv"
ours=$(new_topic keyed 3)
run csv2kafka "$SCRATCH/keyed.csv" -o "kafka:$ours" -k k --stats
assert_eq 0 "$RC" "keyed csv2kafka exit code ($ERR)"
assert_eq 300 "$(stat delivered "$ERR")" "keyed rows delivered"
theirs=$(new_topic keyed-kcat 3)
for i in $(seq 0 96); do echo "key-$i:x"; done |
  kcat -P -b "$KAFKA_BROKERS" -t "$theirs" -K: -X partitioner=murmur2_random 2>/dev/null
kcat -C -b "$KAFKA_BROKERS" -t "$ours" -e -q -o beginning -f '%k %p\n' 2>/dev/null | sort -u > "$SCRATCH/ours"
kcat -C -b "$KAFKA_BROKERS" -t "$theirs" -e -q -o beginning -f '%k %p\n' 2>/dev/null | sort -u > "$SCRATCH/theirs"
assert_eq 97 "$(wc -l < "$SCRATCH/ours")" "each of the 97 keys in exactly one partition"
assert_files_equal "$SCRATCH/theirs" "$SCRATCH/ours" "key -> partition as murmur2_random"
# Per key, the values in input order.
kcat -C -b "$KAFKA_BROKERS" -t "$ours" -e -q -o beginning -f '%k %s\n' 2>/dev/null |
  sed 's/ {"k":"[^"]*","v":\([0-9]*\)}/ \1/' | sort -s -k1,1 > "$SCRATCH/by-key"
tail -n +2 "$SCRATCH/keyed.csv" | tr , ' ' | sort -s -k1,1 > "$SCRATCH/by-key-expected"
assert_files_equal "$SCRATCH/by-key-expected" "$SCRATCH/by-key" "keyed values, in input order per key"

# A queue of 50 messages: the file's batches meet a full queue all the time, wait and go on.
# Every row arrives once, and each partition holds its rows in input order.
{ echo n; seq 1 20000; } > "$SCRATCH/many.csv"
topic=$(new_topic full 3)
run csv2kafka "$SCRATCH/many.csv" -o "kafka:$topic" -X queue.buffering.max.messages=50 --stats
assert_eq 0 "$RC" "csv2kafka with a small queue exit code ($ERR)"
assert_eq 20000 "$(stat delivered "$ERR")" "rows delivered through a small queue"
assert_eq 0 "$(stat failed "$ERR")" "rows failed through a small queue"
layout "$topic" | sed 's/ {"n":\([0-9]*\)}/ \1/g' > "$SCRATCH/full-layout"
tr ' ' '\n' < <(cut -d: -f2 "$SCRATCH/full-layout") | grep . | sort -n > "$SCRATCH/full-all"
seq 1 20000 > "$SCRATCH/full-expected"
assert_files_equal "$SCRATCH/full-expected" "$SCRATCH/full-all" "every row once through a small queue"
unordered=$(cut -d: -f2 "$SCRATCH/full-layout" | awk '{ for (i = 2; i <= NF; i++) if ($i <= $(i - 1)) bad++ } END { print bad + 0 }')
assert_eq 0 "$unordered" "rows out of input order within a partition"

# No compression by default (the log holds every byte); -X compression.codec=lz4 reaches the
# broker (the log is under a third of the payload).
log_bytes() { cat "$KAFKA_DATA_DIR"/kraft-logs/"$1"-*/*.log | wc -c; }
plain=$(new_topic plain 3)
run csv2kafka "$KS_ROOT/datasets/urban_traffic.csv" -o "kafka:$plain" --stats
assert_eq 0 "$RC" "csv2kafka urban_traffic exit code ($ERR)"
payload=$(topic_values "$plain" | wc -c)
uncompressed=$(log_bytes "$plain")
lz4=$(new_topic lz4 3)
run csv2kafka "$KS_ROOT/datasets/urban_traffic.csv" -o "kafka:$lz4" -X compression.codec=lz4 --stats
assert_eq 0 "$RC" "csv2kafka urban_traffic with lz4 exit code ($ERR)"
compressed=$(log_bytes "$lz4")
assert_eq "$payload" "$(topic_values "$lz4" | wc -c)" "the same messages with and without compression"
assert_eq yes "$( ((uncompressed > payload)) && echo yes || echo "no: $uncompressed bytes of log for $payload")" \
  "default: the log holds every byte"
assert_eq yes "$( ((compressed * 3 < payload)) && echo yes || echo "no: $compressed bytes of log for $payload")" \
  "-X compression.codec=lz4: the log is under a third of the payload"

# A pipe is produced row by row. The producer has two connections (lanes), partition p going
# through lane p mod 2, so it picks every partition itself: keyless rows stay on one partition for
# 1,024 rows, then the next; keyed rows go where murmur2 puts them, in input order per key.
topic=$(new_topic pipe 3)
set +e
seq 1 3000 | { echo n; cat; } | csv2kafka -o "kafka:$topic" --stats -v 2>"$SCRATCH/pipe.err"
RC=$?
set -e
assert_eq 0 "$RC" "csv2kafka from a pipe exit code"
assert_eq 3000 "$(stat delivered "$(cat "$SCRATCH/pipe.err")")" "pipe rows delivered"
assert_eq 1 "$(grep -c "topic $topic: 3 partition(s), 2 producer connection(s) per broker" "$SCRATCH/pipe.err")" \
  "two producer connections for a topic of 3 partitions"
layout "$topic" | sed 's/ {"n":\([0-9]*\)}/ \1/g' | runs > "$SCRATCH/pipe-runs"
printf '0:1-1024\n1:1025-2048\n2:2049-3000\n' > "$SCRATCH/pipe-expected"
assert_files_equal "$SCRATCH/pipe-expected" "$SCRATCH/pipe-runs" "pipe rows: 1,024 to a partition, in order"

keyed_pipe=$(new_topic keyed-pipe 3)
set +e
cat "$SCRATCH/keyed.csv" | csv2kafka -o "kafka:$keyed_pipe" -k k --stats 2>"$SCRATCH/keyed-pipe.err"
RC=$?
set -e
assert_eq 0 "$RC" "keyed csv2kafka from a pipe exit code"
kcat -C -b "$KAFKA_BROKERS" -t "$keyed_pipe" -e -q -o beginning -f '%k %p\n' 2>/dev/null | sort -u > "$SCRATCH/ours-pipe"
assert_files_equal "$SCRATCH/theirs" "$SCRATCH/ours-pipe" "pipe: key -> partition as murmur2_random"
kcat -C -b "$KAFKA_BROKERS" -t "$keyed_pipe" -e -q -o beginning -f '%k %s\n' 2>/dev/null |
  sed 's/{"k":"[^"]*","v":\([0-9]*\)}/\1/' | sort -s -k1,1 > "$SCRATCH/by-key-pipe"
assert_files_equal "$SCRATCH/by-key-expected" "$SCRATCH/by-key-pipe" "pipe: keyed values, in input order per key"

# A topic of one partition needs one connection.
single=$(new_topic single 1)
run csv2kafka "$SCRATCH/seq.csv" -o "kafka:$single" --stats -v
assert_eq 0 "$RC" "csv2kafka to one partition exit code"
assert_eq 1 "$(grep -c "topic $single: 1 partition(s), 1 producer connection(s) per broker" <<<"$ERR")" \
  "one producer connection for a topic of one partition"
assert_eq "$(seq 1 10000)" "$(topic_values "$single" | sed 's/{"n":\([0-9]*\)}/\1/')" "one partition: every row, in order"

finish
