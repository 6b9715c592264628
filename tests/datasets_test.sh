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
echo "datasets: $pass passed, $failed failed"
[[ $failed == 0 ]]
