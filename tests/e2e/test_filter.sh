#!/usr/bin/env bash
# kstream-filter on files and pipes: each option's exact output, bad input under each --on-error
# mode, usage errors, and a trickle that is not held back.
source "$(dirname "$0")/lib.sh"

cat > "$SCRATCH/in.jsonl" <<'EOF'
{"id":1,"Total":36,"price":1.50,"big":9007199254740993,"main":{"temp":12.50,"humidity":81},"tags":["a","b"],"city":"Paris"}
{"id":2,"Total":60,"price":0.1,"big":1,"main":{"temp":-3,"humidity":40},"tags":[],"city":"London"}
{"id":3,"Total":75,"price":2,"big":2,"main":{"temp":30.25,"humidity":90},"tags":["c"],"city":null}
EOF

# --where alone forwards the record's bytes untouched (numbers keep their text).
run kstream-filter -i "$SCRATCH/in.jsonl" --where 'Total > 50 or big > 9007199254740992'
assert_eq 0 "$RC" "where: exit code ($ERR)"
assert_eq "$(sed -n '1,3p' "$SCRATCH/in.jsonl")" "$OUT" "where: bytes untouched, 64-bit integers exact"
run kstream-filter -i "$SCRATCH/in.jsonl" --where 'city = "Paris"'
assert_eq "$(sed -n 1p "$SCRATCH/in.jsonl")" "$OUT" "where: null never matches"

# --select: copied fields keep their exact text; computed ones are written in shortest form.
run kstream-filter -i "$SCRATCH/in.jsonl" --select 'id, price, t=main.temp, tag=tags[0], hot=main.temp > 25, f=(main.temp * 9 / 5) + 32'
assert_eq 0 "$RC" "select: exit code ($ERR)"
assert_eq "$(printf '%s\n' \
  '{"id":1,"price":1.50,"t":12.50,"tag":"a","hot":false,"f":54.5}' \
  '{"id":2,"price":0.1,"t":-3,"tag":null,"hot":false,"f":26.6}' \
  '{"id":3,"price":2,"t":30.25,"tag":"c","hot":true,"f":86.45}')" "$OUT" "select: exact copies and computed values"

# --set replaces in place and appends; --drop removes; names see earlier outputs.
run kstream-filter -i "$SCRATCH/in.jsonl" --where 'id = 2' --drop tags,big --set 'Total=Total * 2' --set 'double=Total + 1' --set 'c=coalesce(city, "?")'
assert_eq '{"id":2,"Total":120,"price":0.1,"main":{"temp":-3,"humidity":40},"city":"London","double":121,"c":"London"}' "$OUT" "set/drop"

# --key only matters for Kafka; on stdout the value is unchanged.
run kstream-filter -i "$SCRATCH/in.jsonl" --key 'upper(city)' --where 'id = 1'
assert_eq "$(sed -n 1p "$SCRATCH/in.jsonl")" "$OUT" "key: value unchanged"

# --lookup: a left join by default (nulls), --inner drops records without a row.
printf 'city,country,population,code\nParis,FR,2100000,00075\nLondon,GB,8900000,00044\n' > "$SCRATCH/cities.csv"
run kstream-filter -i "$SCRATCH/in.jsonl" --lookup "$SCRATCH/cities.csv" --on city=city --select 'id, country, population, code'
assert_eq "$(printf '%s\n' '{"id":1,"country":"FR","population":2100000,"code":"00075"}' \
  '{"id":2,"country":"GB","population":8900000,"code":"00044"}' '{"id":3,"country":null,"population":null,"code":null}')" \
  "$OUT" "lookup: left join, typed columns, leading zeros kept"
run kstream-filter -i "$SCRATCH/in.jsonl" --lookup "$SCRATCH/cities.csv" --on city=city --inner --drop main,tags,big,price --stats
assert_eq "$(printf '%s\n' '{"id":1,"Total":36,"city":"Paris","country":"FR","population":2100000,"code":"00075"}' \
  '{"id":2,"Total":60,"city":"London","country":"GB","population":8900000,"code":"00044"}')" "$OUT" "lookup --inner: columns appended"
assert_eq 1 "$(stat unmatched "$ERR")" "lookup --inner: the unmatched record is counted"

# A table column named like a field of the record does not replace it, in expressions or output.
printf 'city,Total,extra\nParis,999,e1\nLondon,0,e2\n' > "$SCRATCH/clash.csv"
run kstream-filter -i "$SCRATCH/in.jsonl" --lookup "$SCRATCH/clash.csv" --on city=city --where 'Total > 50' --select 'id, Total, extra'
assert_eq "$(printf '%s\n' '{"id":2,"Total":60,"extra":"e2"}' '{"id":3,"Total":75,"extra":null}')" "$OUT" \
  "lookup: the record's own field wins over the table's"

# Bad records: invalid JSON, not an object, a string where a number is needed; a missing field is null.
printf '%s\n' '{"Total":60}' 'not json' '[1]' '{"Total":"many"}' '{"other":1}' '{"Total":70}' > "$SCRATCH/bad.jsonl"
run kstream-filter -i "$SCRATCH/bad.jsonl" --where 'Total > 50'
assert_eq 65 "$RC" "fail: exit code"
assert_eq '{"Total":60}' "$OUT" "fail: the record before the bad one is out"
assert_contains "$ERR" "kstream-filter: $SCRATCH/bad.jsonl:2: invalid JSON:" "fail: names file and line"
run kstream-filter -i "$SCRATCH/bad.jsonl" --where 'Total > 50' --on-error skip --stats
assert_eq 0 "$RC" "skip: exit code ($ERR)"
assert_eq "$(printf '%s\n' '{"Total":60}' '{"Total":70}')" "$OUT" "skip: good records out"
assert_eq 3 "$(stat bad "$ERR")" "skip: bad count"
assert_eq 1 "$(stat dropped "$ERR")" "skip: a missing field is null and drops the record"
assert_contains "$ERR" "bad.jsonl:3: not a JSON object (skipped)" "skip: not an object"
assert_contains "$ERR" 'bad.jsonl:4: > needs numbers, but Total is a string ("many") in: Total > 50 (skipped)' "skip: the field is named"
run kstream-filter -i "$SCRATCH/bad.jsonl" --where 'Total > 50' --on-error dead-letter --dead-letter "$SCRATCH/dl.jsonl"
assert_eq 0 "$RC" "dead-letter: exit code ($ERR)"
assert_eq "$(printf '%s\n' \
  "{\"reason\":\"invalid JSON: Problem while parsing an atom starting with the letter 'n'\",\"tool\":\"kstream-filter\",\"source\":\"$SCRATCH/bad.jsonl\",\"line\":2,\"data\":\"not json\"}" \
  "{\"reason\":\"not a JSON object\",\"tool\":\"kstream-filter\",\"source\":\"$SCRATCH/bad.jsonl\",\"line\":3,\"data\":\"[1]\"}" \
  "{\"reason\":\"> needs numbers, but Total is a string (\\\"many\\\") in: Total > 50\",\"tool\":\"kstream-filter\",\"source\":\"$SCRATCH/bad.jsonl\",\"line\":4,\"data\":\"{\\\"Total\\\":\\\"many\\\"}\"}")" \
  "$(cat "$SCRATCH/dl.jsonl")" "dead-letter: envelopes"

# Usage errors: a wrong expression shows a caret under its column; a missing lookup file.
run kstream-filter -i "$SCRATCH/in.jsonl" --where 'Total >'
assert_eq 2 "$RC" "bad expression: exit code"
assert_eq "$(printf '%s\n' 'kstream-filter: --where: unexpected end of expression' '  Total >' '         ^')" \
  "$(head -3 <<<"$ERR")" "bad expression: caret under the column"
run kstream-filter -i "$SCRATCH/in.jsonl" --where 'lower(city, 1) = "x"'
assert_eq 2 "$RC" "wrong argument count: exit code"
run kstream-filter -i "$SCRATCH/in.jsonl" --lookup "$SCRATCH/none.csv" --on city=city
assert_eq 2 "$RC" "missing lookup file: exit code"
assert_eq "kstream-filter: --lookup $SCRATCH/none.csv: No such file or directory" "$(head -1 <<<"$ERR")" "missing lookup file: message"
run kstream-filter -i "$SCRATCH/in.jsonl" --lookup "$SCRATCH/cities.csv" --on city=town
assert_eq 2 "$RC" "missing lookup column: exit code"
run kstream-filter -i "$SCRATCH/missing.jsonl"
assert_eq 1 "$RC" "missing input: exit code"
assert_contains "$ERR" "$SCRATCH/missing.jsonl: No such file or directory" "missing input: message"

# A million-record input through the worker threads comes out whole and in order.
"$KS_BIN/csv2kafka" "$KS_ROOT/datasets/traffic.csv" --loop --limit 200000 > "$SCRATCH/traffic.jsonl"
run kstream-filter -i "$SCRATCH/traffic.jsonl" --where 'Total > 50' --stats
assert_eq "$(jq -c 'select(.Total > 50)' "$SCRATCH/traffic.jsonl" | md5sum)" "$(md5sum <<<"$OUT")" "many records: the same as jq, in order"
run kstream-filter -i "$SCRATCH/traffic.jsonl" --limit 1000
assert_eq 1000 "$(wc -l <<<"$OUT")" "--limit: records"

# Line numbers through the worker threads, which split the lines themselves: two files of several
# batches each, blank and CRLF lines, bad lines at known places, the last line without a break.
# The dead letters name file:line as Python counts them, and so does the one-record-at-a-time
# reading that --limit uses.
python3 - "$SCRATCH" <<'PY'
import json, sys
d = sys.argv[1]
bad, good = [], 0
for name, n in (("lines-a.jsonl", 70000), ("lines-b.jsonl", 50000)):
    path = f"{d}/{name}"
    with open(path, "w", newline="") as f:
        for i in range(1, n + 1):
            if i % 9973 == 0:
                line = "not json %d" % i
                bad.append(f"{path}:{i}:{line}")
            elif i % 5003 == 0:
                line = " \t "
            else:
                line = json.dumps({"i": i, "pad": "x" * (i % 40)})
                good += 1
            f.write(line + ("" if i == n else "\r\n" if i % 7 == 0 else "\n"))
with open(f"{d}/lines.expected", "w") as f:
    f.write("".join(b + "\n" for b in bad))
with open(f"{d}/lines.good", "w") as f:
    f.write(f"{good}\n")
PY
for limit in "" "--limit 1000000"; do
  rm -f "$SCRATCH/lines.dl"
  run kstream-filter -i "$SCRATCH/lines-*.jsonl" --on-error dead-letter --dead-letter "$SCRATCH/lines.dl" --stats $limit
  assert_eq 0 "$RC" "line numbers ${limit:-in bulk}: exit code ($ERR)"
  assert_eq "$(cat "$SCRATCH/lines.good")" "$(wc -l <<<"$OUT")" "line numbers ${limit:-in bulk}: good records out"
  assert_eq "$(cat "$SCRATCH/lines.good")" "$(stat records_out "$ERR")" "line numbers ${limit:-in bulk}: records_out"
  assert_eq "$(( $(cat "$SCRATCH/lines.good") + $(wc -l < "$SCRATCH/lines.expected") ))" "$(stat records_in "$ERR")" \
    "line numbers ${limit:-in bulk}: records_in (blank lines are not records)"
  jq -r '"\(.source):\(.line):\(.data)"' "$SCRATCH/lines.dl" > "$SCRATCH/lines.got"
  assert_files_equal "$SCRATCH/lines.expected" "$SCRATCH/lines.got" "line numbers ${limit:-in bulk}: dead letters name file:line"
done

# A trickle on a pipe is not held back: each line comes out while the input stays open.
fifo=$SCRATCH/fifo
mkfifo "$fifo"
kstream-filter --where 'n > 1' < "$fifo" > "$SCRATCH/trickle.out" &
BACKGROUND_PIDS+=($!)
exec 7>"$fifo"
printf '{"n":1}\n{"n":2}\n' >&7
# (Waiting up to a minute for it: the line comes at once, the process may not get the CPU at once.)
wait_for 60 test -s "$SCRATCH/trickle.out" || true
assert_eq '{"n":2}' "$(cat "$SCRATCH/trickle.out")" "trickle: the matching line is out while the pipe stays open"
exec 7>&-

# A closed pipe downstream is a clean stop.
set +e
kstream-filter -i "$SCRATCH/traffic.jsonl" 2>"$SCRATCH/head.err" | head -1 >/dev/null
rc=${PIPESTATUS[0]}
set -e
assert_eq 0 "$rc" "closed pipe: exit code ($(cat "$SCRATCH/head.err"))"

finish
