#!/usr/bin/env bash
# ktrain and kpredict end to end: training from a file, from a topic and from both gives the same
# model as the same rows from a file; kpredict scores every record over stdin (each record kept
# byte for byte, the prediction appended) and Kafka to Kafka exactly once through kill -9 and
# restarts, with the same predictions as stdin; model files that are corrupt or of another version
# are refused with exit 65.
source "$(dirname "$0")/lib.sh"

data="$KS_ROOT/datasets/traffic.csv"
features=(--features 'CarCount,BikeCount,BusCount,TruckCount,hour,Day of the week'
          --derive 'hour=hour(parse_time(Time, "%I:%M:%S %p"))')
payload() { ktrain --describe "$1" --json | jq -r .payload.fnv1a64; }

# --- Training from a file: the metrics add up -------------------------------------------------
run ktrain -i "$data" --label 'Traffic Situation' --model logistic "${features[@]}" -o "$SCRATCH/file.model" \
  --metrics-json "$SCRATCH/metrics.json" --report "$SCRATCH/report.html"
assert_eq 0 "$RC" "ktrain from the CSV file ($ERR)"
assert_contains "$OUT" "accuracy" "the metrics table is printed"
assert_eq "2976 2381 595" "$(jq -r '[.training.rows_read, .training.rows_train, .training.rows_test] | join(" ")' "$SCRATCH/metrics.json")" \
  "rows read, trained on and held out (split 0.8)"
assert_eq 595 "$(jq '[.metrics.confusion[][]] | add' "$SCRATCH/metrics.json")" "the confusion matrix counts the held-out rows"
assert_eq true "$(jq '([range(0; 4) as $i | .metrics.confusion[$i][$i]] | add) / 595 - .metrics.accuracy | fabs < 1e-12' "$SCRATCH/metrics.json")" \
  "accuracy is the confusion matrix's diagonal"
assert_at_least 0.85 "$(jq .metrics.accuracy "$SCRATCH/metrics.json")" "held-out accuracy of the logistic regression"
assert_at_least 1 "$(grep -o '<svg' "$SCRATCH/report.html" | wc -l)" "the report has pictures"

# The same seed: the same model.
run ktrain -i "$data" --label 'Traffic Situation' --model logistic "${features[@]}" -o "$SCRATCH/again.model"
assert_eq "$(payload "$SCRATCH/file.model")" "$(payload "$SCRATCH/again.model")" "training is deterministic for a seed"

# --- Training from a topic, and from a file plus a topic ----------------------------------------
topic=$(new_topic mltrain 1)
csv2kafka "$data" -o "kafka:$topic" -q
run ktrain -i "kafka:$topic" -g "ml-$topic" -e --label 'Traffic Situation' --model logistic "${features[@]}" \
  -o "$SCRATCH/topic.model" --stats
assert_eq 0 "$RC" "ktrain from a topic ($ERR)"
assert_eq 2976 "$(stat records_in "$ERR")" "every record of the topic read"
assert_eq "$(payload "$SCRATCH/file.model")" "$(payload "$SCRATCH/topic.model")" "a topic gives the model its file gives"
# Half the rows in a file, the other half on a topic: the model of the whole file.
head -1489 "$data" > "$SCRATCH/first.csv"
{ head -1 "$data"; tail -n +1490 "$data"; } > "$SCRATCH/second.csv"
half=$(new_topic mlhalf 1)
csv2kafka "$SCRATCH/second.csv" -o "kafka:$half" -q
run ktrain -i "$SCRATCH/first.csv" -i "kafka:$half" -g "ml-$half" -e --label 'Traffic Situation' --model logistic \
  "${features[@]}" -o "$SCRATCH/both.model"
assert_eq 0 "$RC" "ktrain from a file and a topic ($ERR)"
assert_eq "$(payload "$SCRATCH/file.model")" "$(payload "$SCRATCH/both.model")" "a file plus a topic gives the whole file's model"
run ktrain -i "kafka:$topic" -g x --label 'Traffic Situation' --model logistic -o "$SCRATCH/x.model"
assert_eq 2 "$RC" "a topic without -e, --duration or --limit has no end"
assert_contains "$ERR" "add -e" "the error says what to add"

# --- kpredict over stdin ---------------------------------------------------------------------
ktrain -i "$data" --label 'Traffic Situation' --model rf-classifier "${features[@]}" -o "$SCRATCH/rf.model" >/dev/null
csv2kafka "$data" -o - > "$SCRATCH/records.jsonl"
run kpredict -m "$SCRATCH/rf.model" -i "$SCRATCH/records.jsonl" -o "$SCRATCH/scored.jsonl" --proba --stats
assert_eq 0 "$RC" "kpredict over a file ($ERR)"
assert_eq 2976 "$(stat records_out "$ERR")" "every record scored"
# Each record is kept as it was, the prediction and the probabilities appended.
sed 's/,"prediction":.*$/}/' "$SCRATCH/scored.jsonl" > "$SCRATCH/unscored.jsonl"
assert_files_equal "$SCRATCH/records.jsonl" "$SCRATCH/unscored.jsonl" "records kept byte for byte"
assert_eq 0 "$(jq -c 'select(([.probability[]] | add - 1 | fabs) > 1e-9)' "$SCRATCH/scored.jsonl" | wc -l)" \
  "probabilities add up to 1"
assert_eq 0 "$(jq -c 'select(.prediction != (.probability | to_entries | max_by(.value) | .key))' "$SCRATCH/scored.jsonl" | wc -l)" \
  "the prediction is the most probable class"
assert_at_least 0.85 "$(jq -s '(map(select(.prediction == .["Traffic Situation"])) | length) / length' "$SCRATCH/scored.jsonl")" \
  "the forest's accuracy over the whole file"
# One thread or several: the same output, in input order.
kpredict -m "$SCRATCH/rf.model" --proba < "$SCRATCH/records.jsonl" > "$SCRATCH/piped.jsonl"
assert_files_equal "$SCRATCH/scored.jsonl" "$SCRATCH/piped.jsonl" "a pipe gives what a file gives"

# Bad records: an absent feature is an error naming it; null is a missing value.
printf '%s\n' '{"CarCount":1,"BikeCount":2,"BusCount":3,"TruckCount":4,"Time":"1:00:00 PM","Day of the week":null}' \
  '{"CarCount":1,"BusCount":3,"TruckCount":4,"Time":"1:00:00 PM","Day of the week":"Monday"}' \
  '{"CarCount":"many","BikeCount":2,"BusCount":3,"TruckCount":4,"Time":"1:00:00 PM","Day of the week":"Monday"}' > "$SCRATCH/bad.jsonl"
run kpredict -m "$SCRATCH/rf.model" -i "$SCRATCH/bad.jsonl" --on-error skip --stats
assert_eq 0 "$RC" "bad records skipped ($ERR)"
assert_eq 1 "$(wc -l <<<"$OUT")" "the record with a null was scored"
assert_eq 2 "$(stat bad "$ERR")" "two bad records"
assert_contains "$ERR" "bad.jsonl:2: no field 'BikeCount'" "an absent feature names the field and the line"
assert_contains "$ERR" "bad.jsonl:3: 'CarCount' is \"many\"" "a text where numbers were learnt"
run kpredict -m "$SCRATCH/rf.model" -i "$SCRATCH/bad.jsonl"
assert_eq 65 "$RC" "--on-error fail stops at the first bad record"

# --- Model files that cannot be used -----------------------------------------------------------
sed '1s/ 1$/ 2/' "$SCRATCH/rf.model" > "$SCRATCH/v2.model"
run kpredict -m "$SCRATCH/v2.model" -i "$SCRATCH/bad.jsonl"
assert_eq 65 "$RC" "another version is refused"
assert_contains "$ERR" "version 2; this build reads version 1" "the message says which versions"
head -c -100 "$SCRATCH/rf.model" > "$SCRATCH/cut.model"
run kpredict -m "$SCRATCH/cut.model" -i "$SCRATCH/bad.jsonl"
assert_eq 65 "$RC" "a truncated model is refused"
assert_contains "$ERR" "corrupt model" "the message says it is corrupt"
run ktrain --describe "$data"
assert_eq 65 "$RC" "a CSV file is not a model"
assert_contains "$ERR" "not a kstream model file" "the message says so"

# --- Kafka to Kafka, exactly once through kill -9 ------------------------------------------------
# 20 copies of the dataset, each record with an id, arriving while kpredict is killed 5 times.
awk -F, 'NR == 1 { print "id," $0; next } { for (c = 0; c < 20; c++) rows[c * 2976 + NR - 1] = $0 }
         END { for (i = 1; i <= 20 * 2976; i++) print i "," rows[i] }' "$data" > "$SCRATCH/ids.csv"
total=$((20 * 2976))
in=$(new_topic mlin 3)
out=$(new_topic mlout 3)
csv2kafka "$SCRATCH/ids.csv" -o "kafka:$in" -k id --rate 15000 -q 2>"$SCRATCH/producer.err" &
producer=$!
BACKGROUND_PIDS+=("$producer")
session=(-X session.timeout.ms=60000)
group="ml-$in"
: > "$SCRATCH/kills.err"
started() { [[ $(grep -c '^kpredict: transactional.id ' "$SCRATCH/kills.err") -ge $1 ]]; }
RANDOM=12
for kill in $(seq 5); do
  kpredict -m "$SCRATCH/rf.model" -i "kafka:$in" -g "$group" -o "kafka:$out" --proba --commit-interval 50 -v "${session[@]}" \
    2>>"$SCRATCH/kills.err" &
  pid=$!
  BACKGROUND_PIDS+=("$pid")
  wait_for 60 started "$kill" || true
  sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.2 + r / 32768 * 0.8 }')"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
set +e; wait "$producer"; rc=$?; set -e
assert_eq 0 "$rc" "producer ($(cat "$SCRATCH/producer.err"))"
run kpredict -m "$SCRATCH/rf.model" -i "kafka:$in" -g "$group" -o "kafka:$out" --proba -e "${session[@]}"
assert_eq 0 "$RC" "final run ($ERR)"
assert_eq 5 "$(grep -c '^kpredict: transactional.id ' "$SCRATCH/kills.err")" "every killed run started"
await_committed "$out" "$total"
# The committed output, by id, equals what stdin scoring gives for the same records.
committed "$out" | jq -c '{id, prediction, probability}' | sort > "$SCRATCH/kafka.txt"
csv2kafka "$SCRATCH/ids.csv" -o - | kpredict -m "$SCRATCH/rf.model" --proba | jq -c '{id, prediction, probability}' | sort \
  > "$SCRATCH/stdin.txt"
assert_eq "$total" "$(wc -l < "$SCRATCH/kafka.txt")" "every record exactly once after 5 kill -9"
assert_files_equal "$SCRATCH/stdin.txt" "$SCRATCH/kafka.txt" "Kafka's predictions are stdin's"

finish
