#!/usr/bin/env bash
# The api2kafka pipelines of scripts/ against the fixture API and the real broker: velib-producer
# -> velib-enrich -> velib-by-postcode in three cron rounds (the whole Velib chain of make demo),
# and weather-producer -> weather-enrich. Checked against oracles computed with jq from the
# responses the fixture served.
source "$(dirname "$0")/lib.sh"
S=$KS_ROOT/scripts

python3 "$S/api-fixture" --port 0 --dump "$SCRATCH/dump" >"$SCRATCH/fixture.url" 2>"$SCRATCH/fixture.err" &
BACKGROUND_PIDS+=($!)
wait_for 20 grep -q API_FIXTURE_URL "$SCRATCH/fixture.url" || { echo "the fixture did not start" >&2; exit 1; }
API=$(sed -n 's/^API_FIXTURE_URL=//p' "$SCRATCH/fixture.url")

# --- Velib: three rounds of 6 polls, each followed by velib-enrich and velib-by-postcode --drain.
in=velib-$RANDOM$RANDOM
codes='"1002","4016","6021","8050","11104","15047","16107","18024","21010","31104"'
lates=
for round in 1 2 3; do
  run "$S/velib-producer" --url "$API/velib/station_status.json" --out "$in" --polls 6 --interval 100ms \
    --state "$SCRATCH/velib.dedupe"
  assert_eq 0 "$RC" "velib-producer, round $round: exit code ($ERR)"
  run "$S/velib-enrich" --in "$in" --out "$in-enriched" --group "ve-$in" --drain
  assert_eq 0 "$RC" "velib-enrich, round $round: exit code ($ERR)"
  run "$S/velib-by-postcode" --in "$in-enriched" --out "$in-clean" --group "vbp-$in" --drain
  assert_eq 0 "$RC" "velib-by-postcode, round $round: exit code ($ERR)"
  lates+=$(stat late "$ERR")
done
assert_eq 000 "$lates" "velib-by-postcode: no record late in any round"
run "$S/velib-by-postcode" --in "$in-enriched" --out "$in-totals" --group "vbt-$in" --running-totals --drain
assert_eq 0 "$RC" "velib-by-postcode --running-totals: exit code ($ERR)"

# The producer's oracle: every served body in order, the ten stations, each published when it
# is new or changed since its last publication (in any round: --state keeps that across runs).
assert_eq 18 "$(ls "$SCRATCH/dump" | wc -l)" "velib-producer: 18 responses served"
for f in "$SCRATCH/dump"/*.json; do jq -c '.data.stations[]' "$f"; done |
  jq -sc "reduce .[] as \$s ({seen: {}, out: []}; if ([$codes] | index(\$s.stationCode)) == null or .seen[\$s.stationCode] == \$s
    then . else .seen[\$s.stationCode] = \$s | .out += [\$s] end) | .out[]" > "$SCRATCH/produced.expected"
committed "$in" -f '%k|%s\n' | sort > "$SCRATCH/produced"
assert_eq "$(jq -r '.stationCode + "|" + tojson' "$SCRATCH/produced.expected" | sort)" "$(cat "$SCRATCH/produced")" \
  "velib-producer: exactly the new and changed statuses of the ten stations, keyed by stationCode"
n=$(wc -l < "$SCRATCH/produced.expected")
assert_at_least 20 "$n" "velib-producer: the ten stations, then their changes"

committed "$in-enriched" > "$SCRATCH/enriched"
assert_eq "$n" "$(wc -l < "$SCRATCH/enriched")" "velib-enrich: every status enriched once"
assert_eq "$(jq -r '[.stationCode, .last_reported, .num_bikes_available] | @tsv' "$SCRATCH/produced.expected" | sort)" \
  "$(jq -r '[.stationCode, .last_reported, .num_bikes_available] | @tsv' "$SCRATCH/enriched" | sort)" "velib-enrich: the same statuses"

# velib-by-postcode: the running totals equal sums over the enriched records; every closed window
# equals the sums over its records.
expected=$(jq -sc 'group_by(.postcode | tostring)[] | {postcode: (.[0].postcode | tostring), total_bikes: (map(.num_bikes_available) | add),
  total_mechanical: (map(.mechanical) | add), total_ebike: (map(.ebike) | add), reports: length}' "$SCRATCH/enriched" | sort)
assert_eq "$expected" "$(committed "$in-totals" | jq -c '{postcode, total_bikes, total_mechanical, total_ebike, reports}' | sort)" \
  "velib-by-postcode --running-totals: the sums per postcode"
jq -sc 'group_by([(.postcode | tostring), ((.last_reported / 300 | floor) * 300)])[] | {window_start: ((.[0].last_reported / 300 | floor) * 300 | todate),
  postcode: (.[0].postcode | tostring), total_bikes: (map(.num_bikes_available) | add), total_mechanical: (map(.mechanical) | add),
  total_ebike: (map(.ebike) | add), reports: length}' "$SCRATCH/enriched" | sort > "$SCRATCH/windows.expected"
committed "$in-clean" | jq -c '{window_start, postcode, total_bikes, total_mechanical, total_ebike, reports}' | sort > "$SCRATCH/windows"
assert_at_least 5 "$(wc -l < "$SCRATCH/windows")" "velib-by-postcode: windows closed"
assert_eq "" "$(comm -13 "$SCRATCH/windows.expected" "$SCRATCH/windows")" "velib-by-postcode: every closed window has the sums of its records"

# --- Weather: two polls of five cities -> topic-weather (keyed by city) -> weather-enrich.
w=weather-$RANDOM$RANDOM
export OWM_API_KEY=pipeline-secret-31337
run "$S/weather-producer" --url "$API/owm/data/2.5/weather?q={city}&units=metric&appid=\${OWM_API_KEY}" --out "$w" --polls 2 --interval 200ms
assert_eq 0 "$RC" "weather-producer: exit code ($ERR)"
[[ $ERR != *pipeline-secret-31337* ]] && ok || fail "weather-producer: the key was printed: $ERR"
assert_eq "$(printf '%s\n' Bali Bali London London Melbourne Melbourne Paris Paris Tokyo Tokyo)" \
  "$(kcat -C -b "$KAFKA_BROKERS" -t "$w" -e -q -o beginning -f '%k\n' 2>/dev/null | sort)" "weather-producer: two polls of five cities, keyed by city"
run "$S/weather-enrich" --in "$w" --out "$w-final" --group "we-$w" --drain
assert_eq 0 "$RC" "weather-enrich: exit code ($ERR)"
assert_eq 10 "$(committed "$w-final" | wc -l)" "weather-enrich: ten enriched records"
assert_eq "$(kcat -C -b "$KAFKA_BROKERS" -t "$w" -e -q -o beginning -f '%s\n' 2>/dev/null | jq -r '.main.temp' | sort -n)" \
  "$(committed "$w-final" | jq -r '.temperature' | sort -n)" "weather-enrich: the temperatures served"

finish
