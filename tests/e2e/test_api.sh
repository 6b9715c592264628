#!/usr/bin/env bash
# api2kafka against the fixture API (scripts/api-fixture) and the real broker: the published
# records equal the served ones; --records, --where, --key, --add, --param, --dedupe; conditional
# requests; the schedule (never early, slow URLs do not hold the others); every failure mode
# (retries, backoff, Retry-After, skip and go on, exit codes); secrets never printed; --duration,
# --limit, --polls.
source "$(dirname "$0")/lib.sh"

python3 "$KS_ROOT/scripts/api-fixture" --port 0 --log "$SCRATCH/api.log" --dump "$SCRATCH/dump" \
  --appid s3cr3t-appid-42 >"$SCRATCH/fixture.url" 2>"$SCRATCH/fixture.err" &
BACKGROUND_PIDS+=($!)
wait_for 20 grep -q API_FIXTURE_URL "$SCRATCH/fixture.url" || { echo "the fixture did not start" >&2; exit 1; }
API=$(sed -n 's/^API_FIXTURE_URL=//p' "$SCRATCH/fixture.url")
VELIB=$API/velib/station_status.json
# The requests of one URL (path?query) in the fixture's log, in order.
requests_of() { jq -c --arg u "$1" 'select((.path + "?" + .query) == $u or (.query == "" and .path == $u))' "$SCRATCH/api.log"; }
# The dumped bodies served so far, oldest first, and how many there are.
dumps() { ls "$SCRATCH/dump" 2>/dev/null | wc -l; }

# 1. Published records equal the served ones, to Kafka, keyed by stationCode.
topic=$(new_topic velib 3)
before=$(dumps)
run api2kafka "$VELIB" --records data.stations --key stationCode --polls 3 --interval 300ms -o "kafka:$topic" --stats
assert_eq 0 "$RC" "velib: exit code ($ERR)"
assert_eq 3 "$(( $(dumps) - before ))" "velib: three responses served"
served=$(ls "$SCRATCH/dump" | tail -3 | while read -r f; do jq -c '.data.stations[]' "$SCRATCH/dump/$f"; done)
assert_eq 150 "$(stat delivered "$ERR")" "velib: every record delivered"
assert_eq "$(sort <<<"$served")" "$(topic_values "$topic" | sort)" "velib: the topic holds exactly the served records"
assert_eq "$(jq -r '.stationCode + "|" + (. | tojson)' <<<"$served" | sort)" \
  "$(kcat -C -b "$KAFKA_BROKERS" -t "$topic" -e -q -o beginning -f '%k|%s\n' 2>/dev/null | sort)" "velib: keyed by stationCode"
assert_contains "$(tail -1 "$SCRATCH/api.log")" '"User-Agent": "api2kafka/' "User-Agent names the tool"
assert_contains "$(tail -1 "$SCRATCH/api.log")" 'gzip' "compression offered"

# 2. --where, --add (replacing in place, and new), --key on an added field, to stdout.
run api2kafka "$VELIB?x=where" --records data.stations --polls 1 --where 'stationCode in ["16107", "31104"]' \
  --add 'num_bikes_available=num_bikes_available * 10' --add 'station=concat("s", stationCode)' --key station
assert_eq 0 "$RC" "where: exit code ($ERR)"
expected=$(jq -c '.data.stations[] | select(.stationCode == "16107" or .stationCode == "31104")
  | .num_bikes_available *= 10 | .station = "s" + .stationCode' "$KS_ROOT/datasets/api/velib/station_status.json")
assert_eq "$expected" "$OUT" "where + add: the two stations, a field replaced in place, one added"

# 3. --param: one request per city, ${ENV} in the URL, message key = city name.
wtopic=$(new_topic weather 1)
export OWM_KEY=s3cr3t-appid-42
run api2kafka "$API/owm/data/2.5/weather?q={city}&units=metric&appid=\${OWM_KEY}" --param city=Paris,London,Tokyo,Melbourne,Bali \
  --polls 1 --key name -o "kafka:$wtopic" --stats -v
assert_eq 0 "$RC" "weather: exit code ($ERR)"
assert_eq 5 "$(stat requests "$ERR")" "weather: one request per city"
assert_eq "Bali
London
Melbourne
Paris
Tokyo" "$(kcat -C -b "$KAFKA_BROKERS" -t "$wtopic" -e -q -o beginning -f '%k\n' 2>/dev/null | sort)" "weather: keyed by city"
for city in paris london tokyo melbourne bali; do
  assert_contains "$(topic_values "$wtopic")" "$(jq -c . "$KS_ROOT/datasets/api/openweathermap/$city.json")" "weather: $city as served"
done
assert_eq 5 "$(grep -c 'appid=s3cr3t-appid-42' "$SCRATCH/api.log")" "weather: the key reaches the API"

# 4. Secrets never printed: a wrong city (404) and a refused key (401) at -v, with --stats.
export TOKEN=tok-987654321
run api2kafka "$API/owm/data/2.5/weather?q={city}&appid=\${OWM_KEY}" "$API/owm/data/2.5/weather?q=Paris&appid=wrong-key-555" \
  --param city=Atlantis --header 'Authorization: Bearer ${TOKEN}' --header 'X-Api-Key: plain-key-777' --polls 1 -v --stats
assert_eq 1 "$RC" "secrets: no poll succeeded, exit 1"
for secret in s3cr3t-appid-42 tok-987654321 wrong-key-555 plain-key-777; do
  [[ $ERR != *"$secret"* && $OUT != *"$secret"* ]] && ok || fail "secrets: '$secret' printed: $ERR"
done
assert_contains "$ERR" "appid=***" "secrets: the URL is shown with *** for its key"
assert_contains "$ERR" "HTTP 404" "secrets: the 404 is reported"
assert_contains "$ERR" "HTTP 401" "secrets: the 401 is reported"
assert_eq 2 "$(stat http_errors "$ERR")" "secrets: two HTTP errors counted, not retried"
assert_contains "$(grep 'Atlantis' "$SCRATCH/api.log" | tail -1)" '"Authorization": "Bearer tok-987654321"' "headers: sent"

# 5. --dedupe: a station is published again only when it changed since the last poll.
run api2kafka "$VELIB?x=dedupe" --records data.stations --dedupe stationCode --polls 3 --interval 200ms --stats
assert_eq 0 "$RC" "dedupe: exit code ($ERR)"
expected=$(ls "$SCRATCH/dump" | tail -3 | while read -r f; do jq -c '.data.stations[]' "$SCRATCH/dump/$f"; done |
  jq -sc 'reduce .[] as $s ({seen: {}, out: []}; if .seen[$s.stationCode] == $s then . else .seen[$s.stationCode] = $s | .out += [$s] end) | .out[]')
assert_eq "$expected" "$OUT" "dedupe: exactly the new and changed records, in order"
assert_eq "$(( 150 - $(wc -l <<<"$OUT") ))" "$(stat unchanged "$ERR")" "dedupe: the others counted as unchanged"

# 6. Conditional requests: the body changes every 3 requests; 304s publish nothing.
run api2kafka "$VELIB?change_every=3" --records data.stations --polls 4 --interval 200ms --stats
assert_eq 0 "$RC" "304: exit code ($ERR)"
assert_eq 2 "$(stat not_modified "$ERR")" "304: two answers not modified"
assert_eq 100 "$(wc -l <<<"$OUT")" "304: records of the two changed responses only"
assert_eq 3 "$(requests_of "/velib/station_status.json?change_every=3" | grep -c If-None-Match)" "304: the ETag is sent back"

# 7. Retries: two 500s then success; a 429 with Retry-After is waited for.
run api2kafka "$VELIB?fail=500:2" --records data.stations --polls 1 --backoff 100ms --stats
assert_eq 0 "$RC" "500: exit code ($ERR)"
assert_eq 2 "$(stat retries "$ERR")" "500: two retries"
assert_eq 50 "$(wc -l <<<"$OUT")" "500: the records of the third answer"
run api2kafka "$VELIB?fail=429:1&retry_after=2" --records data.stations --polls 1 --backoff 100ms --stats
assert_eq 0 "$RC" "429: exit code ($ERR)"
times=$(requests_of "/velib/station_status.json?fail=429:1&retry_after=2" | jq -r .t)
assert_at_least 1.95 "$(awk 'NR == 1 { a = $1 } NR == 2 { printf "%.3f", $1 - a }' <<<"$times")" "429: Retry-After (2 s) honoured"
# Exponential backoff: 3 retries at --backoff 400ms wait at least 0.2 + 0.4 + 0.8 s (jitter: 50-100%).
run api2kafka "$VELIB?fail=503:3" --records data.stations --polls 1 --backoff 400ms --stats
times=$(requests_of "/velib/station_status.json?fail=503:3" | jq -r .t)
assert_at_least 1.35 "$(awk 'NR == 1 { a = $1 } END { printf "%.3f", $1 - a }' <<<"$times")" "backoff: doubles each retry"
assert_eq 50 "$(wc -l <<<"$OUT")" "backoff: then the records"

# 8. Failures that are skipped until the next poll; the run goes on and exits 0.
for scenario in invalid=1 truncate=1 missing=1 reset=1; do
  run api2kafka "$VELIB?$scenario" --records data.stations --polls 2 --interval 300ms --retries 0 --stats
  assert_eq 0 "$RC" "$scenario: exit 0, a later poll succeeded ($ERR)"
  assert_eq 1 "$(stat polls_failed "$ERR")" "$scenario: one failed poll"
  assert_eq 50 "$(wc -l <<<"$OUT")" "$scenario: the next poll's records"
  assert_contains "$ERR" "$VELIB?$scenario" "$scenario: the URL is named"
done
# A timeout is retried; a 404 is not; nothing succeeds: exit 1 naming the last failure.
run api2kafka "$VELIB?slow=3" --records data.stations --polls 1 --timeout 0.5 --retries 1 --backoff 100ms --stats
assert_eq 1 "$RC" "timeout: exit 1"
assert_eq 2 "$(stat requests "$ERR")" "timeout: retried once"
assert_contains "$ERR" "no poll succeeded" "timeout: the reason"
assert_matches "$ERR" "[Tt]imeout|timed out" "timeout: says so"
run api2kafka "$VELIB?fail=404" --records data.stations --polls 3 --interval 100ms --stats
assert_eq 1 "$RC" "404: exit 1"
assert_eq 3 "$(stat requests "$ERR")" "404: one request per poll, no retries"
# --fail-fast: the first failed poll ends the run.
run api2kafka "$VELIB?fail=404&x=ff" "$VELIB?x=ff" --records data.stations --fail-fast --interval 100ms
assert_eq 1 "$RC" "fail-fast: exit 1"
assert_contains "$ERR" "HTTP 404" "fail-fast: the reason"
# Unreachable API.
run api2kafka "http://127.0.0.1:1/x" --polls 1 --retries 1 --backoff 100ms
assert_eq 1 "$RC" "unreachable: exit 1"
assert_contains "$ERR" "127.0.0.1:1/x" "unreachable: the URL is named"

# Proxies come from the environment: the fixture answers as the proxy of a host that does not exist.
run env http_proxy="$API" api2kafka "http://velib.invalid/velib/station_status.json?x=proxy" --records data.stations --polls 1
assert_eq 0 "$RC" "proxy: exit code ($ERR)"
assert_eq 50 "$(wc -l <<<"$OUT")" "proxy: the records, through http_proxy"
assert_eq 1 "$(requests_of "/velib/station_status.json?x=proxy" | wc -l)" "proxy: the request reached the proxy"

# HTTPS: the server's certificate is checked (against the system's CA store, which does not
# know this self-signed one): the poll fails with the reason, and nothing is published.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$SCRATCH/key.pem" -out "$SCRATCH/cert.pem" -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
python3 "$KS_ROOT/scripts/api-fixture" --port 0 --tls-cert "$SCRATCH/cert.pem" --tls-key "$SCRATCH/key.pem" \
  >"$SCRATCH/tls.url" 2>"$SCRATCH/tls.err" &
BACKGROUND_PIDS+=($!)
wait_for 20 grep -q API_FIXTURE_URL "$SCRATCH/tls.url" || { echo "the TLS fixture did not start" >&2; exit 1; }
TLS=$(sed -n 's/^API_FIXTURE_URL=//p' "$SCRATCH/tls.url")
assert_matches "$TLS" '^https://' "https: the fixture serves TLS"
run api2kafka "$TLS/velib/station_status.json?appid=tls-secret-4242" --records data.stations --polls 1 --retries 0
assert_eq 1 "$RC" "https: an untrusted certificate fails the poll"
assert_contains "$ERR" "SSL certificate problem" "https: says why"
assert_eq "" "$OUT" "https: nothing published"
[[ $ERR != *tls-secret-4242* ]] && ok || fail "https: the key was printed: $ERR"

# Unreachable broker: one line, exit 1, within --kafka-timeout.
started=$(now)
run api2kafka "$VELIB" --records data.stations --polls 1 -o kafka:nowhere -b 127.0.0.1:1 --kafka-timeout 2
assert_eq 1 "$RC" "no broker: exit 1"
assert_contains "$ERR" "cannot reach Kafka" "no broker: says so"
assert_between 1.5 15 "$(elapsed "$started")" "no broker: gives up after --kafka-timeout"

# 9. Schedule: polls are never early; a slow URL does not hold the others back.
started=$(now)
run api2kafka "$VELIB?slow=3&x=sched" "$VELIB?x=fast" --records data.stations --interval 1s --duration 4.5 --stats
assert_eq 0 "$RC" "schedule: exit code ($ERR)"
assert_between 4.4 12 "$(elapsed "$started")" "schedule: --duration 4.5 ends the run"
fast=$(requests_of "/velib/station_status.json?x=fast" | jq -r .t)
assert_at_least 4 "$(wc -l <<<"$fast")" "schedule: the fast URL polled every second while the slow one answers"
assert_eq 1 "$(requests_of "/velib/station_status.json?slow=3&x=sched" | wc -l | awk '{ print ($1 <= 2) }')" "schedule: the slow URL at most twice"
assert_eq 1 "$(awk 'NR == 1 { a = $1 } { if ($1 - a < (NR - 1) - 0.05) bad = 1 } END { print bad ? 0 : 1 }' <<<"$fast")" "schedule: no poll before its time"
assert_at_least 2 "$(stat polls_skipped "$ERR")" "schedule: the slow URL's missed polls skipped, not bunched"

# 10. Bounds: --limit; redirect followed; bad options.
run api2kafka "$API/redirect?to=/velib/station_status.json%3Fx%3Dredirect" --records data.stations --limit 7 --stats
assert_eq 0 "$RC" "limit: exit code ($ERR)"
assert_eq 7 "$(wc -l <<<"$OUT")" "limit: 7 records"
assert_eq "$(jq -c '.data.stations[:7][]' "$KS_ROOT/datasets/api/velib/station_status.json")" "$OUT" "redirect: followed"
run api2kafka "$VELIB?q={city}" --polls 1
assert_eq 2 "$RC" "param missing: usage error"
assert_contains "$ERR" "--param city" "param missing: says what to give"
run api2kafka "$VELIB" --param city=Paris --polls 1
assert_eq 2 "$RC" "param unused: usage error"
run env -u NOPE api2kafka "$VELIB?k=\${NOPE}" --polls 1
assert_eq 2 "$RC" "unset variable: usage error"
assert_contains "$ERR" "NOPE is not set" "unset variable: named"
run api2kafka "$VELIB" --interval 0 --polls 1
assert_eq 2 "$RC" "interval 0: usage error"

# 11. A record that is not an object follows --on-error.
run api2kafka "$VELIB" --records data.stations.0.num_bikes_available_types.0.mechanical --polls 1
assert_eq 1 "$RC" "scalar records path: the poll fails ($ERR)"
run api2kafka "$API/owm/data/2.5/weather?q=Paris&appid=s3cr3t-appid-42" --records weather --polls 1 --where 'id > 800' --on-error skip
assert_eq 0 "$RC" "array of objects: exit code"
assert_eq '{"id":803,"main":"Clouds","description":"broken clouds","icon":"04d"}' "$OUT" "array of objects: filtered"

finish
