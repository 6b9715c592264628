# Sourced by the pipeline scripts: where the binaries are, which broker, topic creation.
# KAFKA_BROKERS set: that cluster. Unset: the local broker on 127.0.0.1:9092, started by
# scripts/kafka-local when nothing answers there (it keeps running: scripts/kafka-local stop).
KS_SCRIPTS=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
KS_ROOT=$(dirname "$KS_SCRIPTS")
KS_BIN=${KS_BIN:-$KS_ROOT/build/bin}
if [[ ! -x $KS_BIN/csv2kafka ]]; then
  if command -v csv2kafka >/dev/null; then KS_BIN=$(dirname "$(command -v csv2kafka)")
  else echo "${0##*/}: no csv2kafka in $KS_BIN or on PATH: run 'make build' first" >&2; exit 1; fi
fi
export PATH="$KS_BIN:$KS_SCRIPTS:$PATH"

if [[ -z ${KAFKA_BROKERS:-} ]]; then
  if kcat -L -b 127.0.0.1:9092 -m 3 >/dev/null 2>&1; then
    KAFKA_BROKERS=127.0.0.1:9092
  else
    line=$("$KS_SCRIPTS/kafka-local" start) || exit 1
    KAFKA_BROKERS=${line#KAFKA_BROKERS=}
  fi
fi
export KAFKA_BROKERS

# ensure_topic NAME PARTITIONS: topics are never created automatically.
ensure_topic() { "$KS_SCRIPTS/kafka-topic" create "$1" "$2" >&2; }

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

# start_api_fixture: scripts/api-fixture (the recorded Velib and OpenWeatherMap APIs) on a free
# port of 127.0.0.1, stopped when the script exits; sets API_FIXTURE_URL.
start_api_fixture() {
  local url_file
  url_file=$(mktemp "${TMPDIR:-/tmp}/api-fixture.XXXXXX")
  python3 "$KS_SCRIPTS/api-fixture" --port 0 "$@" >"$url_file" &
  API_FIXTURE_PID=$!
  trap 'kill "$API_FIXTURE_PID" 2>/dev/null || true; rm -f "'"$url_file"'"' EXIT
  local i
  for i in $(seq 100); do
    API_FIXTURE_URL=$(sed -n 's/^API_FIXTURE_URL=//p' "$url_file")
    [[ -n $API_FIXTURE_URL ]] && break
    kill -0 "$API_FIXTURE_PID" 2>/dev/null || { echo "${0##*/}: scripts/api-fixture did not start" >&2; exit 1; }
    sleep 0.1
  done
  [[ -n $API_FIXTURE_URL ]] || { echo "${0##*/}: scripts/api-fixture did not start" >&2; exit 1; }
  export API_FIXTURE_URL
}
