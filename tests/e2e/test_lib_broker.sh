#!/usr/bin/env bash
# The tests of lib/kafka that need a real broker (tests/unit/broker_test.cpp, hidden from the unit
# run): restoring a changelog waits for a transaction pending at its end, and fetching committed
# offsets waits for an offset commit pending in a transaction.
source "$(dirname "$0")/lib.sh"

if "$KS_BIN/../tests/ks_unit" "[.broker]" >"$SCRATCH/out" 2>&1; then ok; else fail "ks_unit [.broker]"; cat "$SCRATCH/out" >&2; fi
assert_contains "$(cat "$SCRATCH/out")" "All tests passed" "the broker tests ran"
finish
