# Sourced by every end-to-end test: the broker of this test run, scratch space, assertions.
# Tests run the real binaries against the real broker and compare outputs exactly.
set -euo pipefail
: "${KS_BIN:?}" "${KS_ROOT:?}" "${KS_STATE:?}"
# shellcheck disable=SC1091
source "$KS_STATE/kafka.env"
export KAFKA_BROKERS
export PATH="$KS_BIN:$PATH"

TEST_NAME=$(basename "${BASH_SOURCE[1]}" .sh)
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/ks-$TEST_NAME.XXXXXX")
CHECKS=0
FAILURES=0
BACKGROUND_PIDS=()

cleanup() {
  local pid
  for pid in "${BACKGROUND_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$SCRATCH"
}
trap cleanup EXIT

# A topic of its own for each use: NAME-<random>, created with its partition count.
new_topic() {
  local name="$1-$RANDOM$RANDOM" partitions=${2:-1}
  "$KS_ROOT/scripts/kafka-topic" create "$name" "$partitions" >/dev/null 2>&1 ||
    { echo "could not create topic $name" >&2; exit 1; }
  echo "$name"
}

fail() { echo "FAIL: $*" >&2; FAILURES=$((FAILURES + 1)); }
ok() { CHECKS=$((CHECKS + 1)); }

assert_eq() {  # expected actual message
  if [[ "$1" == "$2" ]]; then ok; else fail "$3: expected [$1], got [$2]"; fi
}

assert_files_equal() {  # expected-file actual-file message
  if cmp -s "$1" "$2"; then ok; else fail "$3: $1 and $2 differ"; diff <(head -c 20000 "$1") <(head -c 20000 "$2") | head -20 >&2 || true; fi
}

assert_contains() {  # haystack needle message
  if [[ "$1" == *"$2"* ]]; then ok; else fail "$3: [$2] not in [$1]"; fi
}

assert_between() {  # low high value message (numbers, may be fractional)
  if awk -v lo="$1" -v hi="$2" -v v="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; then ok; else fail "$4: $3 not in [$1, $2]"; fi
}

assert_at_least() {  # low value message (numbers, may be fractional)
  if awk -v lo="$1" -v v="$2" 'BEGIN { exit !(v >= lo) }'; then ok; else fail "$3: $2 < $1"; fi
}

assert_matches() {  # text extended-regex message
  if [[ $1 =~ $2 ]]; then ok; else fail "$3: [$(cat -v <<<"$1")] does not match /$2/"; fi
}

# Waits for a state instead of sleeping a fixed time and hoping: runs COMMAND every 0.1 s until it
# succeeds, for at most SECONDS. The caps are generous: on a busy machine things come late, and a
# cap only bounds how long a real failure takes to show.
wait_for() {  # seconds command...
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

assert_eventually() {  # seconds message command...: the state COMMAND checks comes, in time
  local seconds=$1 message=$2
  shift 2
  if wait_for "$seconds" "$@"; then ok; else fail "$message: not within $seconds s"; fi
}

# True while process PID runs (bash reaps its children as they end, so an ended one is gone).
running() { kill -0 "$1" 2>/dev/null; }

# CSV batch files in DIR hold the rows of INPUT: each file starts with INPUT's header, and their
# rows together are INPUT's rows (in any order: partitions interleave).
assert_csv_batches_hold() {  # input.csv dir message
  local f
  for f in "$2"/*.csv; do
    assert_eq "$(head -1 "$1")" "$(head -1 "$f")" "$3: header of $(basename "$f")"
  done
  tail -n +2 "$1" | sort > "$SCRATCH/.rows-in"
  for f in "$2"/*.csv; do tail -n +2 "$f"; done | sort > "$SCRATCH/.rows-out"
  assert_files_equal "$SCRATCH/.rows-in" "$SCRATCH/.rows-out" "$3: every row back"
}

# Runs a command, recording its exit code in RC, stdout in OUT, stderr in ERR.
run() {
  set +e
  "$@" >"$SCRATCH/.out" 2>"$SCRATCH/.err"
  RC=$?
  set -e
  OUT=$(cat "$SCRATCH/.out")
  ERR=$(cat "$SCRATCH/.err")
}

# Seconds since the epoch with milliseconds (truncated), and the same in whole milliseconds, as
# the broker's message timestamps are.
now() { date +%s.%N | cut -c1-14; }
now_ms() { date +%s%3N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# A JSON field of the --stats line in a stderr capture: stat NAME "$ERR"
stat() { grep -o "\"$1\":[0-9.]*" <<<"$2" | tail -1 | cut -d: -f2; }

# Every line of the topic (values only) via kcat, for checks independent of our consumer.
topic_values() { kcat -C -b "$KAFKA_BROKERS" -t "$1" -e -q -o beginning -f '%s\n' 2>/dev/null; }

# The topic as a read_committed reader sees it: committed TOPIC [kcat options, e.g. -f FORMAT].
committed() { kcat -C -b "$KAFKA_BROKERS" -t "$1" -e -q -o beginning -X isolation.level=read_committed "${@:2}" 2>/dev/null; }

# A transaction is visible to read_committed readers once the broker has written its commit
# markers, which it does after the producer's commit has returned: a reader started right after a
# transactional tool exits may still find the last transaction open, and stop before it (a busy
# broker writes the markers later). Waits until TOPIC shows at least COUNT committed messages, for
# at most 30 s; the exact checks come after.
committed_at_least() { [[ $(committed "$1" | wc -l) -ge $2 ]]; }
await_committed() { wait_for 30 committed_at_least "$1" "$2" || true; }  # topic count

# Ends the test: the closing line CTest and CI read.
finish() {
  echo "$TEST_NAME: $CHECKS passed, $FAILURES failed"
  [[ $FAILURES -eq 0 ]]
}
