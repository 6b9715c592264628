#!/usr/bin/env bash
# The kstream-filter pipelines of scripts/, each against the test broker, their outputs checked
# exactly against an independent computation (jq, or python3 from the raw input messages).
source "$(dirname "$0")/lib.sh"
S=$KS_ROOT/scripts

# traffic-filter: the busy records of the traffic stream, on the topic and on the terminal.
topic=traffic-$RANDOM$RANDOM
"$KS_ROOT/scripts/kafka-topic" create "$topic" 3 >/dev/null 2>&1
csv2kafka "$KS_ROOT/datasets/traffic.csv" -o "kafka:$topic" --key Date -q
run "$S/traffic-filter" --in "$topic" --out "$topic-busy" --group "tf-$topic" --drain
assert_eq 0 "$RC" "traffic-filter: exit code ($ERR)"
csv2kafka "$KS_ROOT/datasets/traffic.csv" | jq -c 'select(.Total > 50)' | sort > "$SCRATCH/busy.expected"
await_committed "$topic-busy" "$(wc -l < "$SCRATCH/busy.expected")"
committed "$topic-busy" | sort > "$SCRATCH/busy.topic"
assert_files_equal "$SCRATCH/busy.expected" "$SCRATCH/busy.topic" "traffic-filter: the topic holds every record with Total > 50, once"
sort <<<"$OUT" > "$SCRATCH/busy.terminal"
assert_files_equal "$SCRATCH/busy.expected" "$SCRATCH/busy.terminal" "traffic-filter: the terminal shows them"
assert_eq "" "$(committed "$topic-busy" -f '%k\t%s\n' | awk -F'\t' '{ if (index($2, "\"Date\":" $1 ",") == 0) print }')" \
  "traffic-filter: each output keeps its input key (the Date)"

# weather-enrich: recorded OpenWeatherMap responses to flat, enriched records.
in=weather-$RANDOM$RANDOM
run "$S/weather-enrich" --in "$in" --out "$in-final" --group "we-$in" --samples --drain
assert_eq 0 "$RC" "weather-enrich: exit code ($ERR)"
await_committed "$in-final" 15
committed "$in" -f '%k\t%T\t%s\n' > "$SCRATCH/weather.in"
committed "$in-final" -f '%k\t%s\n' > "$SCRATCH/weather.out"
assert_eq 15 "$(wc -l < "$SCRATCH/weather.out")" "weather-enrich: one record per response"
python3 - "$SCRATCH/weather.in" "$SCRATCH/weather.out" > "$SCRATCH/weather.check" <<'PY'
import json, sys, datetime
def expected(key, ts, raw):
    r = json.loads(raw)
    t = datetime.datetime.fromtimestamp(int(ts) / 1000, tz=datetime.timezone.utc)
    frac = int(ts) % 1000
    date = t.strftime('%Y-%m-%dT%H:%M:%S') + (f'.{frac:03d}' if frac else '') + 'Z'
    T, H = r['main']['temp'], r['main']['humidity']
    speed, P = r['wind']['speed'], r['main']['pressure']
    hour = t.hour
    tod = 'Matin' if 6 <= hour < 12 else 'Après-midi' if 12 <= hour < 18 else 'Soirée' if hour >= 18 else 'Nuit'
    weather = next((w['main'] for w in r['weather'] if w.get('main') is not None), None)
    return key, [('date', date), ('city', r['name']), ('pays', r['sys']['country']), ('lon', r['coord']['lon']),
            ('lat', r['coord']['lat']), ('weather', weather), ('temperature', T), ('pressure', P),
            ('humidity', H), ('speed', speed),
            ('heat_index', T + 0.5555 * (6.11 * 10 ** (7.5 * T / (237.7 + T)) * (H / 100) - 10)),
            ('severity_index', 0.5 * speed + 0.3 * (1015 - P) + 0.2 * H), ('time_of_day', tod)]
want = sorted(expected(*line.rstrip('\n').split('\t')) for line in open(sys.argv[1]))
got = sorted((k, list(json.loads(v).items())) for k, v in (line.rstrip('\n').split('\t') for line in open(sys.argv[2])))
print('same' if want == got else f'differ:\n{want}\n{got}')
PY
assert_eq same "$(head -c 3000 "$SCRATCH/weather.check")" "weather-enrich: every field as computed from the raw response"
assert_contains "$(cat "$SCRATCH/weather.out")" '"city":"London","pays":"GB","lon":-0.1257,"lat":51.5085,"weather":"Mist"' \
  "weather-enrich: the first named condition when the first is null"

# velib-enrich: station status joined with the station table, chosen stations, counts flattened.
in=velib-$RANDOM$RANDOM
run "$S/velib-enrich" --in "$in" --out "$in-enriched" --group "ve-$in" --samples --drain
assert_eq 0 "$RC" "velib-enrich: exit code ($ERR)"
await_committed "$in-enriched" 30
committed "$in-enriched" -f '%k\t%s\n' > "$SCRATCH/velib.out"
python3 - "$KS_ROOT/datasets/velib/station_status.jsonl" "$KS_ROOT/datasets/velib/stations_information.csv" \
  "$SCRATCH/velib.out" > "$SCRATCH/velib.check" <<'PY'
import csv, json, sys
chosen = {'1002', '4016', '6021', '8050', '11104', '15047', '16107', '18024', '21010', '31104'}
def typed(v):
    for cast in (int, float):
        try: return cast(v)
        except ValueError: pass
    return v
table = {row['station_id']: row for row in csv.DictReader(open(sys.argv[2], encoding='utf-8'))}
want = []
for line in open(sys.argv[1], encoding='utf-8'):
    r = json.loads(line)
    if r['stationCode'] not in chosen: continue
    types = r['num_bikes_available_types']
    out = [(k, v) for k, v in r.items() if k not in ('num_bikes_available_types', 'numBikesAvailable', 'numDocksAvailable')]
    row = table[str(r['station_id'])]
    out += [(k, typed(v)) for k, v in row.items() if k != 'station_id' and k not in r]
    out += [('mechanical', next(t['mechanical'] for t in types if 'mechanical' in t)),
            ('ebike', next(t['ebike'] for t in types if 'ebike' in t))]
    want.append((r['stationCode'], out))
got = [(k, list(json.loads(v).items())) for k, v in (line.rstrip('\n').split('\t') for line in open(sys.argv[3], encoding='utf-8'))]
ok = sorted(want, key=repr) == sorted(got, key=repr) and len(want) == 30
print('same' if ok else f'differ:\n{sorted(want, key=repr)}\n{sorted(got, key=repr)}')
PY
assert_eq same "$(head -c 3000 "$SCRATCH/velib.check")" "velib-enrich: the chosen stations' records, joined and flattened, keyed by stationCode"
assert_contains "$(grep '^16107' "$SCRATCH/velib.out" | head -1)" '"name":"Benjamin Godard - Victor Hugo","postcode":75116' \
  "velib-enrich: the table's columns after the record's"
assert_contains "$(cat "$SCRATCH/velib.out")" ',"lon":2.348700,' "velib-enrich: the table's numbers as written"

# Usage.
for script in traffic-filter weather-enrich velib-enrich; do
  run "$S/$script" --help
  assert_eq 0 "$RC" "$script --help"
  run "$S/$script" --bogus
  assert_eq 2 "$RC" "$script: a bad option exits 2"
done

finish
