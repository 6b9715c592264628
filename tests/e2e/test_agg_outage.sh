#!/usr/bin/env bash
# kstream-agg, exactly once with its changelog, through a broker outage longer than its
# transaction and message timeouts (3 s here; a crash and restart leave 10-12 s without a broker). When
# the outage finds a transaction open (most runs: aborts 1-3), it is aborted, or the producer is
# replaced when the broker aborted it first; the state is read back from the changelog and the
# input from the last commit. Either way the running totals equal an awk oracle, and --limit
# ends the run only after a commit that held. The deterministic versions of these paths are in
# tests/unit/session_fault_test.cpp (librdkafka's mock cluster). The test has a broker of its own.
source "$(dirname "$0")/lib.sh"

data=$SCRATCH/kafka
mkdir -p "$data"
stop_own() { "$KS_ROOT/scripts/kafka-local" stop --data-dir "$data" --purge >/dev/null 2>&1 || true; }
trap 'stop_own; cleanup' EXIT
line=$("$KS_ROOT/scripts/kafka-local" start --port 0 --data-dir "$data")
own=${line#KAFKA_BROKERS=}
port=${own##*:}
KAFKA_BROKERS=$own "$KS_ROOT/scripts/kafka-topic" create ain 1 >/dev/null
KAFKA_BROKERS=$own "$KS_ROOT/scripts/kafka-topic" create aout 1 >/dev/null

rows=40000
awk -v n=$rows 'BEGIN { print "id,k,val"; for (i = 1; i <= n; i++) printf "%d,k%d,%d\n", i, i % 10, (i * 7919) % 1000 }' \
  > "$SCRATCH/rows.csv"
awk -F, 'NR > 1 { c[$2]++; s[$2] += $3 } END { for (k in c) printf "%s %d %d\n", k, c[k], s[k] }' "$SCRATCH/rows.csv" \
  | sort > "$SCRATCH/want"

kstream-agg -i kafka:ain -g outage -o kafka:aout -b "$own" --group-by k --agg 'n=count(), s=sum(val)' --window none \
  --emit update --limit $rows --timeout 90 --stats -v -X transaction.timeout.ms=3000 -X message.timeout.ms=3000 \
  2>"$SCRATCH/agg.err" &
agg=$!
csv2kafka "$SCRATCH/rows.csv" -o kafka:ain -b "$own" --rate 2000 --timeout 90 2>"$SCRATCH/producer.err" &
producer=$!
BACKGROUND_PIDS+=("$agg" "$producer")

# The outage comes once kstream-agg commits as the records come (two commits of updates in the
# output), so that it finds a transaction open; the input takes 20 s to send, so that a slow
# start on a busy machine still leaves kstream-agg running at the stop.
committed_at_least() {
  [[ $(timeout 10 kcat -C -b "$own" -t aout -o beginning -c "$1" -q -X isolation.level=read_committed -f '%s\n' \
    2>/dev/null | wc -l) -ge $1 ]]
}
assert_eventually 60 "kstream-agg commits before the outage" committed_at_least 20
# The broker crashes (SIGKILL) rather than stopping: a single-node broker's controlled shutdown can
# skip the markers of a transaction it has just acknowledged as committed ("Couldn't find leader
# endpoint ... likely deleted already and hence can be skipped" in its log), and a later abort
# marker then takes that commit back, which no client can see (docs/conventions.md). A crash
# leaves the commit in the transaction log, and the restarted broker writes its markers.
"$KS_ROOT/scripts/kafka-local" stop --kill --data-dir "$data" >/dev/null
running "$agg" || fail "kstream-agg ended before the broker stopped: no outage was tested"
sleep 5
"$KS_ROOT/scripts/kafka-local" start --port "$port" --data-dir "$data" >/dev/null

finished() { ! running "$producer" && ! running "$agg"; }
assert_eventually 150 "producer and kstream-agg end after the outage" finished
for pid in "$producer" "$agg"; do running "$pid" && kill -9 "$pid" 2>/dev/null; done
set +e
wait "$producer"; rcp=$?
wait "$agg"; rca=$?
set -e
assert_eq "0 0" "$rcp $rca" "exit codes of csv2kafka, kstream-agg ($(tail -2 "$SCRATCH/agg.err"))"
err=$(cat "$SCRATCH/agg.err")
assert_eq "$rows" "$(stat records_in "$err")" "kstream-agg: records in, each counted once"
# The last update of each key in the read_committed output: the totals of the whole input. The
# last transaction's markers may come after kstream-agg has exited (lib.sh, await_committed): the
# reader waits up to 30 s for totals that match (a mismatch is reported after that).
totals() {
  kcat -C -b "$own" -t aout -e -q -o beginning -X isolation.level=read_committed -f '%s\n' 2>/dev/null \
    | jq -r '"\(.k) \(.n) \(.s)"' | awk '{ last[$1] = $0 } END { for (k in last) print last[k] }' | sort
}
totals_final() { [[ $(totals) == "$(cat "$SCRATCH/want")" ]]; }
wait_for 30 totals_final || true
totals > "$SCRATCH/got"
assert_files_equal "$SCRATCH/want" "$SCRATCH/got" "kstream-agg's running totals after the outage"
echo "aborts: $(stat aborts "$err"), transactions: $(stat transactions "$err")"
((FAILURES == 0)) || { echo "kstream-agg's log (-v):"; grep -v "^%" "$SCRATCH/agg.err" | tail -60; } >&2
finish
