#!/usr/bin/env bash
# kpredict serve over real HTTP: each endpoint's exact answers (the expected predictions come from
# the stream scorer, `kpredict -m MODEL`, a different code path), MLflow's four input formats, the
# errors and their statuses, /metrics counting what was sent, 200 requests at once, the web page
# in headless Chromium (serve_page.py; skipped when no browser is installed, unless
# KS_REQUIRE_BROWSER is set), and a clean exit on SIGTERM. No Kafka.
source "$(dirname "$0")/lib.sh"

# ---- Two small models and the records to score ----

run ktrain -i "$KS_ROOT/datasets/traffic.csv" --label 'Traffic Situation' --model logistic -o "$SCRATCH/traffic.model" \
  --features CarCount,BikeCount,BusCount,TruckCount,hour,'Day of the week' --derive 'hour=hour(parse_time(Time, "%I:%M:%S %p"))'
assert_eq 0 "$RC" "ktrain traffic: exit code ($ERR)"
run ktrain -i "$KS_ROOT/datasets/urban_traffic.csv" --label 'Traffic Density' --model rf-regressor --trees 10 --max-depth 6 \
  -o "$SCRATCH/density.model"
assert_eq 0 "$RC" "ktrain density: exit code ($ERR)"

csv2kafka "$KS_ROOT/datasets/traffic.csv" > "$SCRATCH/traffic.jsonl"
csv2kafka "$KS_ROOT/datasets/urban_traffic.csv" --limit 3 > "$SCRATCH/density3.jsonl"
# Three whole rows of the dataset (the label and other extra fields included: they are ignored), one
# of each of three situations, and the same with only the model's inputs.
for situation in heavy low normal; do
  jq -cn --arg s "$situation" 'first(inputs | select(."Traffic Situation" == $s))' "$SCRATCH/traffic.jsonl"
done > "$SCRATCH/three.jsonl"
jq -c '{Time, "Day of the week", CarCount, BikeCount, BusCount, TruckCount}' "$SCRATCH/three.jsonl" > "$SCRATCH/three-inputs.jsonl"

# The stream scorer's answer for each line of a file, as /predict writes it: {"prediction":...} and
# for a classifier "probabilities" (the text cut out of its output, so that numbers stay as written).
expected_answers() {  # model < records
  kpredict -m "$1" --proba |
    sed -E 's/^.*,"prediction":(.*),"probability":(\{[^}]*\})\}$/{"prediction":\1,"probabilities":\2}/; t; s/^.*,"prediction":(.*)\}$/{"prediction":\1}/'
}
# Only the predictions, comma-separated: the inside of MLflow's {"predictions":[...]}.
expected_predictions() {  # model < records
  kpredict -m "$1" | sed -E 's/^.*,"prediction":(.*)\}$/\1/' | paste -sd,
}
expected_answers "$SCRATCH/traffic.model" < "$SCRATCH/three.jsonl" > "$SCRATCH/three.expected"
assert_eq 3 "$(grep -c '^{"prediction":"[a-z]*","probabilities":{' "$SCRATCH/three.expected")" "stream scorer: three answers"
assert_at_least 2 "$(cut -d'"' -f4 "$SCRATCH/three.expected" | sort -u | wc -l)" "the three records get different classes"
THREE_PREDICTIONS=$(expected_predictions "$SCRATCH/traffic.model" < "$SCRATCH/three.jsonl")
DENSITY_PREDICTIONS=$(expected_predictions "$SCRATCH/density.model" < "$SCRATCH/density3.jsonl")

# ---- The server ----

MAX_BODY=4096
kpredict serve -m traffic="$SCRATCH/traffic.model" -m density="$SCRATCH/density.model" --listen 127.0.0.1:0 \
  --max-body $MAX_BODY 2> "$SCRATCH/serve.err" &
SERVER=$!
BACKGROUND_PIDS+=("$SERVER")

stop_here() { fail "$*"; echo "server stderr:" >&2; cat "$SCRATCH/serve.err" >&2; finish; exit 1; }
serving_line() { grep -q '^kpredict: serving 2 models at http://127.0.0.1:[0-9]*/$' "$SCRATCH/serve.err" 2>/dev/null; }
wait_for 20 serving_line || stop_here "no 'kpredict: serving 2 models at http://127.0.0.1:PORT/' line within 20 s"
PORT=$(sed -n 's|^kpredict: serving 2 models at http://127.0.0.1:\([0-9]*\)/$|\1|p' "$SCRATCH/serve.err")
URL=http://127.0.0.1:$PORT
ping_ok() { curl -sf --max-time 2 "$URL/ping" >/dev/null; }
wait_for 20 ping_ok || stop_here "GET /ping did not answer 200 within 20 s"
ok

# request METHOD PATH [curl options]: the answer's STATUS, TYPE (content type) and BODY.
request() {
  local method=$1 path=$2 meta
  shift 2
  meta=$(curl -s --max-time 20 -o "$SCRATCH/.body" -w '%{http_code} %{content_type}' -X "$method" "$@" "$URL$path") ||
    meta="000 (curl failed: is the server still up?)"
  STATUS=${meta%% *}
  TYPE=${meta#* }
  BODY=$(cat "$SCRATCH/.body" 2>/dev/null || true)
  rm -f "$SCRATCH/.body"
}
post() {  # path body
  request POST "$1" -H 'Content-Type: application/json' --data-binary "$2"
}
# A JSON error answer: STATUS, content type, and an "error" string containing NEEDLE.
assert_error() {  # status needle message
  assert_eq "$1 application/json" "$STATUS $TYPE" "$3: status and type"
  assert_contains "$(jq -r '.error | strings' <<<"$BODY" 2>/dev/null || echo "not JSON: $BODY")" "$2" "$3: error message"
}
# Scoring requests sent per model and those answered with an error, for /metrics.
declare -A SENT=([traffic]=0 [density]=0) ERRORS=([traffic]=0 [density]=0)

request GET /ping
assert_eq 200 "$STATUS" "GET /ping"

# ---- The regressor first ----
# The regressor first, the classifier after (the check at the end does the other order on one thread).
post /predict/density "$(head -1 "$SCRATCH/density3.jsonl")"
SENT[density]=$((SENT[density] + 1))
assert_eq "200 application/json" "$STATUS $TYPE" "predict density: status and type ($BODY)"
assert_eq "$(head -1 "$SCRATCH/density3.jsonl" | expected_answers "$SCRATCH/density.model")" "$BODY" "predict density: the stream scorer's value"
assert_eq number "$(jq -r '.prediction | type' <<<"$BODY")" "predict density: a number"
post '/invocations?model=density' "$(jq -sc '{dataframe_records: .}' "$SCRATCH/density3.jsonl")"
SENT[density]=$((SENT[density] + 1))
assert_eq 200 "$STATUS" "invocations density: status ($BODY)"
assert_eq "{\"predictions\":[$DENSITY_PREDICTIONS]}" "$BODY" "invocations density: the stream scorer's values"

# ---- /predict/traffic ----

post /predict/traffic "$(head -1 "$SCRATCH/three.jsonl")"
SENT[traffic]=$((SENT[traffic] + 1))
assert_eq "200 application/json" "$STATUS $TYPE" "predict one: status and type ($BODY)"
assert_eq "$(head -1 "$SCRATCH/three.expected")" "$BODY" "predict one: the stream scorer's class and probabilities"
# Probabilities: one per class, each in [0, 1], summing to 1.
assert_eq true "$(jq '[.probabilities | keys[]] == ["heavy","high","low","normal"]' <<<"$BODY")" "predict one: a probability per class"
assert_eq true "$(jq '[.probabilities[]] | (all(. >= 0 and . <= 1)) and ((add - 1) | fabs < 1e-9)' <<<"$BODY")" \
  "predict one: probabilities sum to 1"

post /predict/traffic "$(jq -sc . "$SCRATCH/three.jsonl")"
SENT[traffic]=$((SENT[traffic] + 1))
assert_eq 200 "$STATUS" "predict array: status ($BODY)"
assert_eq "[$(paste -sd, "$SCRATCH/three.expected")]" "$BODY" "predict array: three answers, in order"
assert_eq true "$(jq 'length == 3 and all(.[]; [.probabilities[]] | (add - 1) | fabs < 1e-9)' <<<"$BODY")" \
  "predict array: probabilities sum to 1"

# ---- MLflow's /invocations: each input format gives the stream scorer's classes ----

rows=$(jq -sc . "$SCRATCH/three-inputs.jsonl")
declare -A mlflow=(
  [dataframe_split]=$(jq -c '{dataframe_split: {columns: (.[0] | keys_unsorted), data: map([.[]])}}' <<<"$rows")
  [dataframe_records]=$(jq -c '{dataframe_records: .}' <<<"$rows")
  [instances]=$(jq -c '{instances: .}' <<<"$rows")
  [inputs-records]=$(jq -c '{inputs: .}' <<<"$rows")
  [inputs-columns]=$(jq -c '. as $rows | {inputs: (reduce ($rows[0] | keys_unsorted[]) as $k ({}; .[$k] = [$rows[][$k]]))}' <<<"$rows")
)
for format in dataframe_split dataframe_records instances inputs-records inputs-columns; do
  post '/invocations?model=traffic' "${mlflow[$format]}"
  SENT[traffic]=$((SENT[traffic] + 1))
  assert_eq "200 application/json" "$STATUS $TYPE" "invocations $format: status and type ($BODY)"
  assert_eq "{\"predictions\":[$THREE_PREDICTIONS]}" "$BODY" "invocations $format: the stream scorer's classes"
done
post /invocations "${mlflow[instances]}"
assert_error 400 '?model=NAME' "invocations without ?model, 2 models loaded"

# ---- Errors ----

post /predict/traffic '{"CarCount": 1,'
SENT[traffic]=$((SENT[traffic] + 1)) ERRORS[traffic]=$((ERRORS[traffic] + 1))
assert_error 400 'invalid JSON' "invalid JSON"
post /predict/traffic "$(head -1 "$SCRATCH/three-inputs.jsonl" | jq -c 'del(.TruckCount)')"
SENT[traffic]=$((SENT[traffic] + 1)) ERRORS[traffic]=$((ERRORS[traffic] + 1))
assert_error 400 "no field 'TruckCount'" "a record without a feature"
post /predict/traffic "$(head -1 "$SCRATCH/three-inputs.jsonl" | jq -c '.CarCount = "many"')"
SENT[traffic]=$((SENT[traffic] + 1)) ERRORS[traffic]=$((ERRORS[traffic] + 1))
assert_error 400 "'CarCount' is \"many\"" "a text where the model learnt numbers"
post /invocations?model=traffic '{"dataframe_split": {"columns": ["CarCount", "Time"], "data": [[1]]}}'
SENT[traffic]=$((SENT[traffic] + 1)) ERRORS[traffic]=$((ERRORS[traffic] + 1))
assert_error 400 "row 0 does not have 2 values" "dataframe_split: a short row"
post /predict/nope '{}'
assert_error 404 "no model named 'nope' (loaded: traffic, density)" "unknown model"
post '/invocations?model=nope' '{"instances": []}'
assert_error 404 "no model named 'nope'" "invocations: unknown model"
request GET /nowhere
assert_error 404 "no such endpoint: GET /nowhere" "unknown path"
# A body just under --max-body is read (spaces after the record), one over it is refused.
record=$(head -1 "$SCRATCH/three-inputs.jsonl")
post /predict/traffic "$(printf '%s%*s' "$record" $((MAX_BODY - 100 - ${#record})) '')"
SENT[traffic]=$((SENT[traffic] + 1))
assert_eq "200 $(head -1 "$SCRATCH/three.expected")" "$STATUS $BODY" "a body under --max-body"

# ---- 200 requests from 16 clients at once, each with its own record ----

mkdir "$SCRATCH/many"
awk 'NR % 14 == 1 && ++n <= 200' "$SCRATCH/traffic.jsonl" > "$SCRATCH/many.jsonl"
expected_answers "$SCRATCH/traffic.model" < "$SCRATCH/many.jsonl" > "$SCRATCH/many.expected"
split -l 1 -a 3 -d "$SCRATCH/many.jsonl" "$SCRATCH/many/"
started=$(now)
(cd "$SCRATCH/many" && printf '%s\n' ??? | xargs -P16 -I{} curl -s --max-time 30 -o {}.out -w '%{http_code}\n' \
  -H 'Content-Type: application/json' --data-binary @{} "$URL/predict/traffic") > "$SCRATCH/many.codes" || true
echo "200 requests from 16 clients: $(elapsed "$started") s"
SENT[traffic]=$((SENT[traffic] + 200))
assert_eq "200 200" "$(sort "$SCRATCH/many.codes" | uniq -c | awk '{print $1, $2}' | paste -sd' ')" "200 requests at once: all 200 OK"
for f in "$SCRATCH"/many/???; do cat "$f.out" 2>/dev/null || echo "(no answer to $(basename "$f"))"; done > "$SCRATCH/many.answers"
assert_files_equal "$SCRATCH/many.expected" "$SCRATCH/many.answers" "200 requests at once: each answer right"

# ---- /health, /metrics, the pages ----

request GET /health
assert_eq "200 application/json" "$STATUS $TYPE" "health: status and type"
assert_eq '"ok" ["traffic","density"]' "$(jq -c '.status, [.models[].name]' <<<"$BODY" | paste -sd' ')" "health: both models"
for model in traffic density; do
  assert_eq "$(ktrain --describe "$SCRATCH/$model.model" --json | jq -c '.inputs')" \
    "$(jq -c --arg m "$model" '.models[] | select(.name == $m) | .inputs' <<<"$BODY")" "health: the inputs of $model"
done

request GET /metrics
assert_eq 200 "$STATUS" "metrics: status"
metric() { grep -F "$1" <<<"$BODY" | awk '{print $2}'; }  # the value of the line starting with NAME{LABELS}
for model in traffic density; do
  assert_eq "${SENT[$model]}" "$(metric "kpredict_requests_total{model=\"$model\"} ")" "metrics: requests to $model"
  assert_eq "${ERRORS[$model]}" "$(metric "kpredict_errors_total{model=\"$model\"} ")" "metrics: errors of $model"
  assert_eq "${SENT[$model]}" "$(metric "kpredict_request_seconds_bucket{model=\"$model\",le=\"+Inf\"} ")" "metrics: +Inf bucket of $model"
  assert_eq "${SENT[$model]}" "$(metric "kpredict_request_seconds_count{model=\"$model\"} ")" "metrics: histogram count of $model"
  buckets=$(grep -F "kpredict_request_seconds_bucket{model=\"$model\"," <<<"$BODY" | awk '{print $2}' | paste -sd' ')
  assert_eq 12 "$(wc -w <<<"$buckets")" "metrics: 12 buckets for $model"
  assert_eq "$(tr ' ' '\n' <<<"$buckets" | sort -n | paste -sd' ')" "$buckets" "metrics: cumulative buckets of $model"
done
assert_contains "$BODY" "# TYPE kpredict_request_seconds histogram" "metrics: histogram type line"

# Over --max-body: refused before any model sees it (so after the counts above).
post /predict/traffic "$(printf '{"pad":"%*s"}' 9990 '' | tr ' ' x)"
assert_error 413 "request body too large" "a body of 10000 bytes over --max-body $MAX_BODY"

request GET /report/traffic
assert_eq "200 text/html; charset=utf-8" "$STATUS $TYPE" "report: status and type"
assert_contains "$BODY" "<svg" "report: pictures"
request GET /report/nope
assert_error 404 "no model named 'nope'" "report: unknown model"
request GET /
assert_eq 200 "$STATUS" "index page: status"
for id in form-traffic form-density result-traffic traffic-Day_of_the_week traffic-Time; do
  assert_contains "$BODY" "id=\"$id\"" "index page: #$id"
done

# ---- The page in headless Chromium ----

browser_python() {  # a python3 that has selenium (Debian's is in /usr/bin/python3's path only)
  local py
  for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import selenium' 2>/dev/null; then echo "$py"; return 0; fi
  done
  return 1
}
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromedriver)
python=$(browser_python) || missing+=("python3 selenium")
if ((${#missing[@]})); then
  if [[ ${KS_REQUIRE_BROWSER:-0} != 0 ]]; then
    fail "web page: KS_REQUIRE_BROWSER is set, but ${missing[*]} not installed"
  else
    echo "SKIP: web page: ${missing[*]} not installed (apt-get install chromium chromium-driver python3-selenium)"
  fi
else
  page_record='{"Day of the week":"Sunday","CarCount":130,"BikeCount":25,"BusCount":35,"TruckCount":12,"Time":"6:30:00 PM"}'
  post /predict/traffic "$page_record"
  api_answer=$BODY
  mkdir -p "$KS_STATE/artifacts"
  screenshot=$KS_STATE/artifacts/serve-page.png
  rm -f "$screenshot"
  started=$(now)
  set +e
  timeout -k 5 60 "$python" "$KS_ROOT/tests/e2e/serve_page.py" "$URL/" "$screenshot" "traffic=$page_record" \
    > "$SCRATCH/page.out" 2> "$SCRATCH/page.err"
  rc=$?
  set -e
  echo "web page in Chromium: $(elapsed "$started") s"
  assert_eq 0 "$rc" "web page: serve_page.py exit code ($(cat "$SCRATCH/page.err"))"
  page_answer=$(jq -c 'select(.model == "traffic")' "$SCRATCH/page.out" 2>/dev/null || true)
  assert_contains "$(jq -r '.text' <<<"$page_answer" 2>/dev/null)" "prediction: " "web page: #result-traffic shows a prediction"
  assert_eq "$(jq -r '.prediction' <<<"$api_answer")" "$(jq -r '.prediction' <<<"$page_answer" 2>/dev/null)" \
    "web page: the class POST /predict/traffic gives"
  # The page shows each probability with 3 decimals.
  assert_eq true "$(jq -n --argjson api "$api_answer" --argjson page "${page_answer:-null}" \
    '[$api.probabilities | to_entries[] | (($page.probabilities[.key] // "NaN" | tonumber) - .value) | fabs] | max <= 0.0005000001' 2>/dev/null)" \
    "web page: the probabilities POST /predict/traffic gives"
  if [[ -s $screenshot ]] && [[ $(head -c 8 "$screenshot" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]]; then
    ok
    echo "screenshot: $screenshot"
  else
    fail "web page: no PNG screenshot at $screenshot"
  fi
fi

# ---- SIGTERM: a clean exit ----

assert_eq "" "$(grep -v '^kpredict: serving 2 models at' "$SCRATCH/serve.err" || true)" "serve: nothing else on stderr"
if running "$SERVER"; then
  kill -TERM "$SERVER"
  stopped() { ! running "$SERVER"; }
  if wait_for 10 stopped; then
    rc=0
    wait "$SERVER" || rc=$?
    assert_eq 0 "$rc" "SIGTERM: exit code"
  else
    fail "SIGTERM: still running after 10 s"
  fi
else
  rc=0
  wait "$SERVER" || rc=$?
  fail "the server died during the test (exit code $rc)"
fi
BACKGROUND_PIDS=()  # ended: its pid must not be killed again by the cleanup

# One thread scores the classifier, then the regressor: the prediction it reuses must not keep the
# classifier's class (it did once, and the server crashed).
kpredict serve -m traffic="$SCRATCH/traffic.model" -m density="$SCRATCH/density.model" --listen 127.0.0.1:0 --threads 1 \
  2> "$SCRATCH/serve1.err" &
SERVER=$!
BACKGROUND_PIDS+=("$SERVER")
wait_for 20 grep -q 'serving 2 models' "$SCRATCH/serve1.err" || true
URL=http://127.0.0.1:$(sed -n 's|^kpredict: serving 2 models at http://127.0.0.1:\([0-9]*\)/$|\1|p' "$SCRATCH/serve1.err")
post /predict/traffic "$(head -1 "$SCRATCH/three-inputs.jsonl")"
post /predict/density "$(head -1 "$SCRATCH/density3.jsonl")"
assert_eq "200 $(head -1 "$SCRATCH/density3.jsonl" | expected_answers "$SCRATCH/density.model")" "$STATUS $BODY" \
  "one thread: the regressor after the classifier"
if running "$SERVER"; then ok; else fail "one thread: the server died scoring the regressor after the classifier"; fi

finish
