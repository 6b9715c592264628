#!/usr/bin/env bash
# kill -9 of kstream-filter at 10 seeded random moments of one Kafka-to-Kafka run, each followed by
# a restart: a read_committed reader finds every input record exactly once, and no restart waits
# for the dead process (static membership and the same transactional.id fence it at once).
source "$(dirname "$0")/lib.sh"

# A session timeout of a minute instead of the tools' 10 s: a restart that waited for the dead
# process's session to expire would take a minute, which no busy machine's slowness is mistaken
# for (with 10 s, a slow drain and a wait for the session could not be told apart).
session=(-X session.timeout.ms=60000)

total=100000
in=$(new_topic k9in 3)
out=$(new_topic k9out 3)
seq 1 $total | awk 'BEGIN { print "id,k" } { print $1 "," $1 % 7 }' > "$SCRATCH/in.csv"
# The input arrives while the filter is being killed: 20,000 records/s for about 5 s.
csv2kafka "$SCRATCH/in.csv" -o "kafka:$in" -k k --rate 20000 -q 2>"$SCRATCH/producer.err" &
producer=$!
BACKGROUND_PIDS+=("$producer")

RANDOM=9
group="k9-$in"
: > "$SCRATCH/kills.err"
started() { [[ $(grep -c '^kstream-filter: transactional.id ' "$SCRATCH/kills.err") -ge $1 ]]; }
for kill in $(seq 10); do
  kstream-filter -i "kafka:$in" -g "$group" -o "kafka:$out" --where 'id > 0' --commit-interval 50 -v "${session[@]}" \
    2>>"$SCRATCH/kills.err" &
  pid=$!
  BACKGROUND_PIDS+=("$pid")
  delay=$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.2 + r / 32768 * 0.8 }')
  # The random moment counts from the run's start (its transactional.id line), not from the
  # launch: a slow process start must not turn a kill into one before the run began.
  wait_for 60 started "$kill" || true
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
set +e; wait "$producer"; rc=$?; set -e
assert_eq 0 "$rc" "producer ($(cat "$SCRATCH/producer.err"))"
echo "assignments during the kills: $(grep -c 'assigned' "$SCRATCH/kills.err")"

# The last run drains what is left (-e) and exits.
start=$(now)
run kstream-filter -i "kafka:$in" -g "$group" -o "kafka:$out" --where 'id > 0' -e --stats "${session[@]}"
assert_eq 0 "$RC" "final run ($ERR)"
took=$(elapsed "$start")
echo "final run: $took s, $(stat records_in "$ERR") records"
# Static membership: the restart takes the dead process's partitions at once. Without it, the
# group would hold them for the session timeout (60 s) first; half of that is a generous bound
# for the drain itself.
assert_between 0 30 "$took" "the last restart did not wait for the dead process's session to expire"
await_committed "$out" "$total"
committed "$out" | sed 's/{"id":\([0-9]*\),.*/\1/' | sort -n > "$SCRATCH/ids"
seq 1 $total > "$SCRATCH/expected"
assert_files_equal "$SCRATCH/expected" "$SCRATCH/ids" "every record exactly once after 10 kill -9 and restarts"
assert_eq 10 "$(grep -c '^kstream-filter: transactional.id ' "$SCRATCH/kills.err")" "every killed run started"
assert_eq 1 "$(grep -o '^kstream-filter: transactional.id [^,]*' "$SCRATCH/kills.err" | sort -u | wc -l)" \
  "the same transactional.id for every restart"

finish
