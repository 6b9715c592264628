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
