#!/usr/bin/env bash
# The committed datasets are exactly what the generators make, and keep their promises.
set -euo pipefail
: "${KS_ROOT:?}"
S=$KS_ROOT/scripts D=$KS_ROOT/datasets
pass=0 failed=0
check() { if eval "$2"; then pass=$((pass + 1)); else echo "FAIL: $1" >&2; failed=$((failed + 1)); fi; }

check "traffic.csv is gen-traffic's output" '"$S/gen-traffic" | cmp -s - "$D/traffic.csv"'
check "urban_traffic.csv is gen-urban-traffic --rows 20000" '"$S/gen-urban-traffic" --rows 20000 | cmp -s - "$D/urban_traffic.csv"'
check "traffic.csv has 2976 rows" '[[ $(tail -n +2 "$D/traffic.csv" | wc -l) == 2976 ]]'
check "traffic header" '[[ $(head -1 "$D/traffic.csv") == "Time,Date,Day of the week,CarCount,BikeCount,BusCount,TruckCount,Total,Traffic Situation" ]]'
check "Total is the sum of the counts" '[[ $(awk -F, "NR > 1 && \$8 != \$4 + \$5 + \$6 + \$7" "$D/traffic.csv" | wc -l) == 0 ]]'
check "four traffic situations" '[[ $(tail -n +2 "$D/traffic.csv" | cut -d, -f9 | sort -u | xargs) == "heavy high low normal" ]]'
check "urban header" '[[ $(head -1 "$D/urban_traffic.csv") == "City,Vehicle Type,Weather,Economic Condition,Day Of Week,Hour Of Day,Speed,Is Peak Hour,Random Event Occurred,Energy Consumption,Traffic Density" ]]'
check "six cities" '[[ $(tail -n +2 "$D/urban_traffic.csv" | cut -d, -f1 | sort -u | xargs) == "AquaCity Ecoopolis MetropolisX Neuroburg SolarisVille TechHaven" ]]'
check "tickets are reproducible with a seed and a start time" \
  '[[ $("$S/gen-tickets" --count 50 --interval 0 --seed 3 --start-time 2026-01-01T00:00:00Z | md5sum) == $("$S/gen-tickets" --count 50 --interval 0 --seed 3 --start-time 2026-01-01T00:00:00Z | md5sum) ]]'
ticket='^\{"ticket_id":[1-9][0-9]{3},"client_id":([1-9]|[1-4][0-9]|50),"datetime":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z","demande":"(Support|Erreur|Mise à jour)","type_demande":"(incident|demande_info|maintenance)","priorite":"(basse|moyenne|haute)"\}$'
check "every ticket has the fields, types and values" '[[ $("$S/gen-tickets" --count 500 --interval 0 | grep -cvE "$ticket") == 0 ]]'
check "ticket generator output is not empty" '[[ $("$S/gen-tickets" --count 500 --interval 0 | grep -cE "$ticket") == 500 ]]'
# OpenWeatherMap "current weather" samples: hand-made fixtures, checked for the API's shape.
O=$D/api/openweathermap
owm_check() {  # owm_check files|polls: prints what is wrong, fails if anything is
python3 - "$1" "$O" <<'PY'
import json, re, sys
mode, d = sys.argv[1], sys.argv[2]
cities = [("paris", "Paris", "FR"), ("london", "London", "GB"), ("tokyo", "Tokyo", "JP"),
          ("melbourne", "Melbourne", "AU"), ("bali", "Bali", "ID")]
bad = []
def num(x): return isinstance(x, (int, float)) and not isinstance(x, bool)
def integer(x): return isinstance(x, int) and not isinstance(x, bool)
def shape(o, where):
    def need(ok, what):
        if not ok: bad.append(f"{where}: {what}")
    keys = ["coord", "weather", "base", "main", "visibility", "wind", "clouds", "dt", "sys", "timezone", "id", "name", "cod"]
    need(all(k in o for k in keys), f"missing {[k for k in keys if k not in o]}")
    if bad: return
    need(num(o["coord"].get("lon")) and -180 <= o["coord"]["lon"] <= 180 and num(o["coord"].get("lat")) and -90 <= o["coord"]["lat"] <= 90, "coord.lon/lat")
    need(isinstance(o["weather"], list) and len(o["weather"]) >= 1, "weather[] is empty")
    for w in o["weather"]:
        need(integer(w.get("id")) and (w.get("main") is None or isinstance(w["main"], str)) and isinstance(w.get("description"), str)
             and re.fullmatch(r"[0-9]{2}[dn]", str(w.get("icon"))) is not None, f"weather entry {w}")
        need(w["icon"][2] == ("d" if o["sys"]["sunrise"] <= o["dt"] < o["sys"]["sunset"] else "n"), f"icon {w['icon']} at dt {o['dt']} (day is sunrise..sunset)")
    need(o["base"] == "stations", "base")
    need(all(num(o["main"].get(k)) for k in ["temp", "feels_like", "temp_min", "temp_max"]), "main temperatures")
    need(o["main"]["temp_min"] <= o["main"]["temp"] <= o["main"]["temp_max"], "temp_min <= temp <= temp_max")
    need(all(integer(o["main"].get(k)) for k in ["pressure", "humidity", "sea_level", "grnd_level"]), "main pressure/humidity/sea_level/grnd_level")
    need(0 <= o["main"]["humidity"] <= 100, "main.humidity")
    need(integer(o["visibility"]) and 0 <= o["visibility"] <= 10000, "visibility")
    need(all(num(o["wind"].get(k)) for k in ["speed", "deg", "gust"]) and 0 <= o["wind"]["deg"] <= 360, "wind.speed/deg/gust")
    need(integer(o["clouds"].get("all")) and 0 <= o["clouds"]["all"] <= 100, "clouds.all")
    for k in ["rain", "snow"]:
        if k in o: need(isinstance(o[k], dict) and o[k] and all(h in ("1h", "3h") and num(v) for h, v in o[k].items()), k)
    need(integer(o["dt"]), "dt")
    s = o["sys"]
    need(integer(s.get("type")) and integer(s.get("id")) and re.fullmatch(r"[A-Z]{2}", str(s.get("country"))) is not None, "sys.type/id/country")
    need(integer(s.get("sunrise")) and integer(s.get("sunset")) and s["sunrise"] < s["sunset"] and s["sunset"] - s["sunrise"] < 86400, "sys.sunrise < sys.sunset")
    need(s["sunrise"] - 86400 < o["dt"] < s["sunset"] + 86400, "dt is on the day of sunrise/sunset")
    need(integer(o["timezone"]) and o["timezone"] % 900 == 0, "timezone (seconds)")
    need(integer(o["id"]) and isinstance(o["name"], str) and o["cod"] == 200, "id/name/cod")
    local_day = lambda t: (t + o["timezone"]) // 86400
    need(local_day(s["sunrise"]) == local_day(o["dt"]) == local_day(s["sunset"]), "sunrise, dt and sunset on one local day")
if mode == "files":
    samples = []
    for f, name, country in cities:
        with open(f"{d}/{f}.json", encoding="utf-8") as fh:
            o = json.load(fh)
        shape(o, f"{f}.json")
        if bad: break
        samples.append(o)
        if o["name"] != name or o["sys"]["country"] != country: bad.append(f"{f}.json: name/country {o['name']}/{o['sys']['country']}")
        if any(w["main"] is None for w in o["weather"]): bad.append(f"{f}.json: a null weather main")
    if not bad:
        if len({o["dt"] // 60 for o in samples}) != 1: bad.append("the samples' dt are not in one minute")
        if not any(len(o["weather"]) >= 2 for o in samples): bad.append("no sample with two weather[] entries")
        if not num(samples[1].get("rain", {}).get("1h")) or samples[1]["weather"][0]["main"] != "Rain": bad.append("london.json: no rain.1h")
        if samples[4]["weather"][0]["main"] != "Clear": bad.append("bali.json: not clear")
else:
    with open(f"{d}/polls.jsonl", encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    if lines[-1] != "": bad.append("polls.jsonl does not end with a newline")
    lines = lines[:-1]
    if len(lines) != 15: bad.append(f"polls.jsonl has {len(lines)} lines, not 15")
    polls = []
    for i, line in enumerate(lines, 1):
        o = json.loads(line)
        shape(o, f"polls.jsonl:{i}")
        if line != json.dumps(o, separators=(",", ":"), ensure_ascii=False): bad.append(f"polls.jsonl:{i}: not compact")
        polls.append(o)
    if not bad:
        for p in range(3):
            names = [o["name"] for o in polls[5 * p:5 * p + 5]]
            if names != [c[1] for c in cities]: bad.append(f"poll {p + 1}: cities {names}")
            if p and any(not 540 <= polls[5 * p + c]["dt"] - polls[5 * p - 5 + c]["dt"] <= 660 for c in range(5)): bad.append(f"poll {p + 1}: dt not ~10 minutes on")
        for c, (f, _, _) in enumerate(cities):
            with open(f"{d}/{f}.json", encoding="utf-8") as fh:
                if json.load(fh) != polls[c]: bad.append(f"poll 1 of {f} is not {f}.json")
        nulls = [i for i, o in enumerate(polls, 1) if o["weather"][0]["main"] is None]
        if len(nulls) != 1: bad.append(f"lines with a null first weather main: {nulls} (want exactly one)")
        elif len(polls[nulls[0] - 1]["weather"]) < 2 or polls[nulls[0] - 1]["weather"][1]["main"] is None: bad.append("the null main is not followed by a real condition")
        if sum(any(w["main"] is None for w in o["weather"]) for o in polls) != 1: bad.append("other null weather mains")
        if len({json.dumps(o["main"]) for o in polls}) != 15: bad.append("main{} does not drift from poll to poll")
for b in bad[:10]: print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}
check "OpenWeatherMap samples: valid JSON, documented fields, one minute, a mix of conditions" 'owm_check files'
check "polls.jsonl: 15 compact lines, fixed city order, dt +10 min, one null first weather main, poll 1 = samples" 'owm_check polls'

# Velib: gen-velib's station list and station_status records.
V=$D/velib
velib_stations() {  # velib_stations CSV
python3 - "$1" <<'PY'
import csv, re, sys
bad = []
with open(sys.argv[1], encoding="utf-8", newline="") as fh:
    text = fh.read()
rows = list(csv.reader(text.splitlines()))
if rows[0] != ["station_id", "stationCode", "name", "postcode", "capacity", "lat", "lon"]: bad.append(f"header {rows[0]}")
rows = rows[1:]
if not 45 <= len(rows) <= 55: bad.append(f"{len(rows)} stations")
ids = [r[0] for r in rows]; codes = [r[1] for r in rows]
if len(set(ids)) != len(ids) or len(set(codes)) != len(codes): bad.append("station_id or stationCode not unique")
if not {"16107", "31104"} <= set(codes): bad.append("16107 or 31104 missing")
for r in rows:
    sid, code, name, postcode, cap, lat, lon = r
    if not re.fullmatch(r"[1-9][0-9]{7,10}", sid): bad.append(f"station_id {sid}")
    if not re.fullmatch(r"[1-9][0-9]{3,4}", code): bad.append(f"stationCode {code}")
    if not re.fullmatch(r"(75(0[0-2][0-9]|116)|9[1-5][0-9]{3})", postcode): bad.append(f"{code}: postcode {postcode}")
    if postcode.startswith("75") and code[:-3] != str(int(postcode[3:]) % 100): bad.append(f"{code} is not numbered after the arrondissement of {postcode}")
    if code == "31104" and postcode.startswith("75"): bad.append("31104 is in Paris proper")
    if not 12 <= int(cap) <= 70: bad.append(f"{code}: capacity {cap}")
    if not (re.fullmatch(r"48\.[0-9]{6}", lat) and re.fullmatch(r"2\.[0-9]{6}", lon) and 48.80 <= float(lat) <= 48.91 and 2.22 <= float(lon) <= 2.47): bad.append(f"{code}: position {lat},{lon}")
    if not name or name != name.strip(): bad.append(f"{code}: name {name!r}")
if not any("," in r[2] for r in rows) or not any(ord(ch) > 127 for r in rows for ch in r[2]): bad.append("no name with a comma or no name with an accent")
if not re.search(r'^[0-9]+,[0-9]+,"[^"]*,[^"]*",', text, re.M): bad.append("no quoted name")
for b in bad[:10]: print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}
velib_status() {  # velib_status STATUS.jsonl STATIONS.csv POLLS START-EPOCH INTERVAL
python3 - "$@" <<'PY'
import csv, json, sys
path, stations, polls, start, interval = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
with open(stations, encoding="utf-8", newline="") as fh:
    st = list(csv.DictReader(fh))
bad = []
keys = ["stationCode", "station_id", "num_bikes_available", "numBikesAvailable", "num_bikes_available_types",
        "num_docks_available", "numDocksAvailable", "is_installed", "is_returning", "is_renting", "last_reported"]
with open(path, encoding="utf-8") as fh:
    lines = fh.read().splitlines()
if len(lines) != polls * len(st): bad.append(f"{len(lines)} records for {polls} polls of {len(st)} stations")
last, prev = {}, {}
flags = set()
for i, line in enumerate(lines):
    r = json.loads(line)
    p, s = divmod(i, len(st))
    where = f"{path}:{i + 1}"
    if list(r) != keys: bad.append(f"{where}: keys {list(r)}"); continue
    if r["stationCode"] != st[s]["stationCode"] or r["station_id"] != int(st[s]["station_id"]): bad.append(f"{where}: not station {s + 1} of the list"); continue
    types = r["num_bikes_available_types"]
    if [list(t) for t in types] != [["mechanical"], ["ebike"]]: bad.append(f"{where}: bike types {types}"); continue
    mech, ebike = types[0]["mechanical"], types[1]["ebike"]
    bikes, docks = r["num_bikes_available"], r["num_docks_available"]
    if min(mech, ebike, docks) < 0 or mech + ebike != bikes or r["numBikesAvailable"] != bikes or r["numDocksAvailable"] != docks:
        bad.append(f"{where}: mechanical + ebike != num_bikes_available, or a negative count")
    if bikes + docks > int(st[s]["capacity"]): bad.append(f"{where}: bikes + docks > capacity {st[s]['capacity']}")
    if any(r[k] not in (0, 1) for k in ["is_installed", "is_returning", "is_renting"]): bad.append(f"{where}: flags")
    if not r["is_installed"] and (r["is_renting"] or r["is_returning"] or bikes or docks): bad.append(f"{where}: a station not installed is in use")
    flags.add((r["is_installed"], r["is_renting"]))
    t = start + p * interval
    if not (r["last_reported"] <= t and r["last_reported"] >= last.get(s, 0)): bad.append(f"{where}: last_reported {r['last_reported']} after the poll at {t} or before the previous one")
    if p and r["last_reported"] == last[s] and r != prev[s]: bad.append(f"{where}: changed without reporting")
    last[s], prev[s] = r["last_reported"], r
if len(st) >= 40 and not {(1, 1), (1, 0), (0, 0)} <= flags: bad.append(f"want stations renting, not renting and not installed: {sorted(flags)}")
for b in bad[:10]: print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}
snapshot_is_poll() {  # snapshot_is_poll SNAPSHOT.json STATUS.jsonl POLL-EPOCH: the snapshot holds the status file's last poll
python3 - "$@" <<'PY'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
o = json.loads(text)
lines = open(sys.argv[2], encoding="utf-8").read().splitlines()
n = len(o["data"]["stations"])
ok = (text.count("\n") == 1 and text.endswith("\n") and list(o) == ["lastUpdatedOther", "ttl", "data"] and o["ttl"] == 3600
      and o["lastUpdatedOther"] == int(sys.argv[3]) and list(o["data"]) == ["stations"]
      and n > 0 and len(lines) % n == 0 and o["data"]["stations"] == [json.loads(l) for l in lines[-n:]])
sys.exit(0 if ok else 1)
PY
}
G=$S/gen-velib T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
check "stations_information.csv is gen-velib stations" '"$G" stations | cmp -s - "$V/stations_information.csv"'
check "station_status.jsonl is gen-velib status" '"$G" status | cmp -s - "$V/station_status.jsonl"'
check "api/velib/station_status.json is gen-velib snapshot" '"$G" snapshot | cmp -s - "$D/api/velib/station_status.json"'
check "stations: ~50 unique ids and codes with 16107 and 31104, postcodes, capacities, positions, quoting" 'velib_stations "$V/stations_information.csv"'
check "status: 3 polls in station order, mechanical + ebike = bikes, bikes + docks <= capacity, last_reported" \
  'velib_status "$V/station_status.jsonl" "$V/stations_information.csv" 3 1795165200 60'
check "snapshot: the GBFS response of the status file's first poll" \
  'snapshot_is_poll "$D/api/velib/station_status.json" <(head -n "$(tail -n +2 "$V/stations_information.csv" | wc -l)" "$V/station_status.jsonl") 1795165200'
check "status keeps its promises over 40 polls of 10 minutes, seed 5" \
  '"$G" stations --seed 5 > "$T/st5.csv" && "$G" status --seed 5 --polls 40 --interval 600 --start-time 2026-12-01T06:00:00Z > "$T/s5.jsonl" &&
   velib_status "$T/s5.jsonl" "$T/st5.csv" 40 1796104800 600'
check "snapshot --polls 40 is the last poll of status --polls 40" \
  '"$G" snapshot --seed 5 --polls 40 --interval 600 --start-time 2026-12-01T06:00:00Z > "$T/snap5.json" &&
   snapshot_is_poll "$T/snap5.json" "$T/s5.jsonl" $((1796104800 + 39 * 600))'
check "status with --stations FILE is status with the stations of the same seed" \
  '"$G" status --seed 5 --polls 40 --interval 600 --start-time 2026-12-01T06:00:00Z --stations "$T/st5.csv" | cmp -s - "$T/s5.jsonl"'
check "gen-velib is reproducible: two runs with the same seed are identical" \
  '[[ $("$G" stations --seed 9 | md5sum) == $("$G" stations --seed 9 | md5sum) &&
      $("$G" status --seed 9 --polls 20 --interval 30 | md5sum) == $("$G" status --seed 9 --polls 20 --interval 30 | md5sum) &&
      $("$G" snapshot --seed 9 | md5sum) == $("$G" snapshot --seed 9 | md5sum) ]]'
check "another seed gives other data" '! "$G" status --seed 43 | cmp -s - "$V/station_status.jsonl"'
check "gen-velib --help exits 0, a bad option or command exits 2" \
  '"$G" --help > /dev/null && "$G" status --help > /dev/null &&
   { "$G" status --polls 0 2> /dev/null; [[ $? == 2 ]]; } && { "$G" stations --interval 5 2> /dev/null; [[ $? == 2 ]]; } &&
   { "$G" nope 2> /dev/null; [[ $? == 2 ]]; } && { "$G" 2> /dev/null; [[ $? == 2 ]]; }'
printf 'station_id,stationCode,capacity\n1,A,20\n2,B,x\n' > "$T/bad.csv"
check "a bad --stations file exits 65 naming the line" \
  '{ "$G" status --stations "$T/bad.csv" > /dev/null 2> "$T/err"; [[ $? == 65 ]]; } && grep -q "bad.csv:3: capacity" "$T/err"'
echo "datasets: $pass passed, $failed failed"
[[ $failed == 0 ]]
