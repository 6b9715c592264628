#!/usr/bin/env bash
# CSV -> csv2kafka -> Kafka -> kbatch-dump gives back the input: values and types.
source "$(dirname "$0")/lib.sh"

# A CSV with every kind of value: quoting, embedded newlines and quotes, leading zeros, big
# integers, floats as written, booleans, nulls, field names with spaces, UTF-8.
cat > "$SCRATCH/in.csv" <<'CSV'
id,Day of the week,zip,score,ok,big,note,ratio
1,Monday,00501,1.50,true,12345678901234567890,"Smith, J",0.25
2,Tuesday,02134,2,false,1,"say ""hi""
there",-3.5e-3
3,,,,,,,
4,Mercredi,10001,-0,true,9007199254740992,Zoë ✓,1e5
CSV

# The JSON messages: exact, typed per column.
topic=$(new_topic roundtrip 1)
run csv2kafka "$SCRATCH/in.csv" -o "kafka:$topic" -k id --stats
assert_eq 0 "$RC" "csv2kafka exit code ($ERR)"
assert_eq 4 "$(stat delivered "$ERR")" "delivered count"
cat > "$SCRATCH/expected.jsonl" <<'JSON'
{"id":1,"Day of the week":"Monday","zip":"00501","score":1.50,"ok":true,"big":"12345678901234567890","note":"Smith, J","ratio":0.25}
{"id":2,"Day of the week":"Tuesday","zip":"02134","score":2,"ok":false,"big":"1","note":"say \"hi\"\nthere","ratio":-3.5e-3}
{"id":3,"Day of the week":null,"zip":null,"score":null,"ok":null,"big":null,"note":null,"ratio":null}
{"id":4,"Day of the week":"Mercredi","zip":"10001","score":-0,"ok":true,"big":"9007199254740992","note":"Zoë ✓","ratio":1e5}
JSON
topic_values "$topic" > "$SCRATCH/actual.jsonl"
assert_files_equal "$SCRATCH/expected.jsonl" "$SCRATCH/actual.jsonl" "messages on the topic"
keys=$(kcat -C -b "$KAFKA_BROKERS" -t "$topic" -e -q -o beginning -f '%k,' 2>/dev/null)
assert_eq "1,2,3,4," "$keys" "message keys from --key id"

# Back to CSV: the same bytes.
mkdir "$SCRATCH/csv" "$SCRATCH/jsonl"
run kbatch-dump -i "kafka:$topic" -g "rt-csv-$topic" -o "$SCRATCH/csv" --output-format csv -e
assert_eq 0 "$RC" "kbatch-dump csv exit code ($ERR)"
assert_eq "$topic-p0000-00000000000000000000-00000000000000000003.csv" "$(ls "$SCRATCH/csv")" "csv file name"
assert_files_equal "$SCRATCH/in.csv" "$SCRATCH/csv/$topic-p0000-00000000000000000000-00000000000000000003.csv" "CSV round trip"

# Back to JSON lines: the same messages.
run kbatch-dump -i "kafka:$topic" -g "rt-jsonl-$topic" -o "$SCRATCH/jsonl" --output-format jsonl -e
assert_eq 0 "$RC" "kbatch-dump jsonl exit code ($ERR)"
assert_files_equal "$SCRATCH/expected.jsonl" "$SCRATCH/jsonl/$topic-p0000-00000000000000000000-00000000000000000003.jsonl" "JSON-lines round trip"

# The whole traffic dataset (2,976 rows) over 3 partitions, keyed by Date: every row comes back.
topic=$(new_topic traffic 3)
run csv2kafka "$KS_ROOT/datasets/traffic.csv" -o "kafka:$topic" -k Date --stats
assert_eq 0 "$RC" "csv2kafka traffic exit code ($ERR)"
assert_eq 2976 "$(stat delivered "$ERR")" "traffic rows delivered"
mkdir "$SCRATCH/traffic"
run kbatch-dump -i "kafka:$topic" -g "rt-traffic-$topic" -o "$SCRATCH/traffic" --output-format csv -e --batch-records 500 --stats
assert_eq 0 "$RC" "kbatch-dump traffic exit code ($ERR)"
assert_eq 2976 "$(stat records_written "$ERR")" "traffic rows written"
assert_csv_batches_hold "$KS_ROOT/datasets/traffic.csv" "$SCRATCH/traffic" "traffic round trip"
# All rows of one key (one Date) are in one partition, in input order.
for f in "$SCRATCH"/traffic/*.csv; do tail -n +2 "$f" | cut -d, -f2 ; done | uniq | sort | uniq -d > "$SCRATCH/split-keys"
assert_eq "" "$(cat "$SCRATCH/split-keys")" "a Date seen in two partitions or out of order"

finish
