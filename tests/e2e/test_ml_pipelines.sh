#!/usr/bin/env bash
# The machine-learning pipelines of scripts/: traffic-ml (two models from datasets/traffic.csv, the
# better one scores a topic exactly once) and urban-traffic-ml (kbatch-dump's batches split in three,
# three forests, served over HTTP). Answers are checked against kpredict over stdin.
source "$(dirname "$0")/lib.sh"

# --- traffic-ml --------------------------------------------------------------------------------
in=$(new_topic traffic 3)
out=$(new_topic traffic_predictions 3)
csv2kafka "$KS_ROOT/datasets/traffic.csv" -o "kafka:$in" -k Date -q
run "$KS_ROOT/scripts/traffic-ml" --in "$in" --out "$out" --models "$SCRATCH/models" --group "tml-$in"
assert_eq 0 "$RC" "traffic-ml ($ERR)"
assert_eq 2 "$(grep -c '^accuracy' <<<"$OUT")" "both metric tables printed"
assert_contains "$OUT" "traffic-logistic.model: logistic classification of 'Traffic Situation' (4 classes)" "the logistic table"
assert_contains "$OUT" "traffic-rf-classifier.model: rf-classifier classification" "the forest table"
best=$(for m in logistic rf-classifier; do echo "$(jq .metrics.accuracy "$SCRATCH/models/traffic-$m.json") $m"; done |
       sort -g -r | head -1 | cut -d' ' -f2)
assert_contains "$ERR" "the $best model did better" "the better model scores"
await_committed "$out" 2976
committed "$out" | sort > "$SCRATCH/scored.txt"
csv2kafka "$KS_ROOT/datasets/traffic.csv" -o - | kpredict -m "$SCRATCH/models/traffic-$best.model" --proba | sort > "$SCRATCH/expected.txt"
assert_eq 2976 "$(wc -l < "$SCRATCH/scored.txt")" "every record scored once"
assert_files_equal "$SCRATCH/expected.txt" "$SCRATCH/scored.txt" "the topic's records with stdin's predictions"
for m in logistic rf-classifier; do
  assert_at_least 1 "$(grep -o '<svg' "$SCRATCH/models/traffic-$m.html" | wc -l)" "the $m report has pictures"
done

# --- urban-traffic-ml ----------------------------------------------------------------------------
"$KS_ROOT/scripts/urban-traffic-batches" --topic "$(new_topic urban 3)" --dir "$SCRATCH/batches" --idle-timeout 3 2>/dev/null
"$KS_ROOT/scripts/urban-traffic-ml" --batches "$SCRATCH/batches" --models "$SCRATCH/umodels" --serve 127.0.0.1:0 \
  > "$SCRATCH/uml.out" 2> "$SCRATCH/uml.err" &
server=$!
BACKGROUND_PIDS+=("$server")
serving() { grep -q '^kpredict: serving 3 models at' "$SCRATCH/uml.err"; }
wait_for 120 serving || true
assert_contains "$(cat "$SCRATCH/uml.err")" "serving 3 models at" "urban-traffic-ml serves ($(tail -3 "$SCRATCH/uml.err"))"
rows() { tail -n +2 "$1" | wc -l; }
parts=$(( $(rows "$SCRATCH/umodels/urban-part1.csv") + $(rows "$SCRATCH/umodels/urban-part2.csv") + $(rows "$SCRATCH/umodels/urban-part3.csv") ))
assert_eq 20000 "$parts" "the three parts hold every row of the batches once"
for p in 1 2 3; do assert_between 6000 7400 "$(rows "$SCRATCH/umodels/urban-part$p.csv")" "part $p is about a third"; done
assert_eq 3 "$(grep -c '^model' "$SCRATCH/uml.out")" "three metric tables"
url=$(sed -n 's|^kpredict: serving 3 models at \(http://[^/]*\)/$|\1|p' "$SCRATCH/uml.err")
record='{"City":"AquaCity","Vehicle Type":"Car","Weather":"Rainy","Economic Condition":"Booming","Day Of Week":"Tuesday","Hour Of Day":8,"Speed":36.35,"Is Peak Hour":1,"Random Event Occurred":0,"Energy Consumption":25.69,"Traffic Density":0.3976}'
for m in density peak energy; do
  expected=$(kpredict -m "$SCRATCH/umodels/urban-$m.model" <<<"$record" | jq -c .prediction)
  got=$(curl -s --max-time 10 "$url/predict/$m" -d "$record" | jq -c .prediction) || true
  assert_eq "$expected" "$got" "POST /predict/$m answers what kpredict does"
done
kill -TERM "$server"
set +e; wait "$server"; rc=$?; set -e
assert_eq 0 "$rc" "the server stops cleanly on SIGTERM"

finish
