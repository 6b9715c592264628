#!/usr/bin/env bash
# A commit the broker acknowledged and then took back (docs/conventions.md, "A commit taken back"):
# after the abort that follows, the session reads again from the offsets the group holds, not from
# the ones it was told it committed, and the output stays exact. KS_TEST_TAKE_BACK_COMMIT=N makes
# the Nth commit of offsets an abort reported as a commit, and aborts the transaction after it:
# the broker's own sequence (a lost commit marker, then an abort marker over it). Without the
# rewind to the group's offsets, the records of the taken-back commit are missing from the output.
source "$(dirname "$0")/lib.sh"
# The second commit is taken back: one commit before it to go back to, and many after it (a commit
# every millisecond of a 30,000-record backlog), so that the abort after it comes before the end.

in=$(new_topic takeback 3)
seq 1 30000 | awk 'BEGIN { print "id,k,v" } { print $1 ",k" $1 % 7 "," $1 % 100 }' | csv2kafka -o "kafka:$in" -k k -q
committed "$in" > "$SCRATCH/in.jsonl"
assert_eq 30000 "$(wc -l < "$SCRATCH/in.jsonl")" "the input"

# kstream-filter: every matching record once, and the input counted once (--limit counts it).
out=$(new_topic takeback-f 3)
KS_TEST_TAKE_BACK_COMMIT=2 run kstream-filter -i "kafka:$in" -g "f-$in" -o "kafka:$out" --where 'v < 50' \
  -e --commit-interval 1 --stats
assert_eq 0 "$RC" "filter: exit code ($ERR)"
assert_contains "$ERR" "KS_TEST_TAKE_BACK_COMMIT: transaction aborted and reported committed" "filter: the commit was taken back"
assert_contains "$ERR" "the broker took a commit back" "filter: the rewind found the group's offsets behind"
assert_eq 1 "$(stat aborts "$ERR")" "filter: one abort"
assert_eq 30000 "$(stat records_in "$ERR")" "filter: records in, counted once"
python3 -c '
import json, sys
for line in sys.stdin:
    if json.loads(line)["v"] < 50: print(line, end="")' < "$SCRATCH/in.jsonl" | sort > "$SCRATCH/f.expected"
await_committed "$out" 15000
committed "$out" | sort > "$SCRATCH/f.got"
assert_eq 15000 "$(wc -l < "$SCRATCH/f.expected")" "filter: the oracle"
assert_files_equal "$SCRATCH/f.expected" "$SCRATCH/f.got" "filter: read_committed output, each record once"

# kstream-agg: the state goes back with the input (its changelog lost the commit too).
aout=$(new_topic takeback-a 3)
KS_TEST_TAKE_BACK_COMMIT=2 run kstream-agg -i "kafka:$in" -g "a-$in" -o "kafka:$aout" --group-by k \
  --agg 'n=count(), s=sum(v)' --window none -e --commit-interval 1 --stats
assert_eq 0 "$RC" "agg: exit code ($ERR)"
assert_contains "$ERR" "the broker took a commit back" "agg: the rewind found the group's offsets behind"
assert_eq 30000 "$(stat records_in "$ERR")" "agg: records in, counted once"
python3 -c '
import json, sys
n, s = {}, {}
for line in sys.stdin:
    r = json.loads(line)
    n[r["k"]] = n.get(r["k"], 0) + 1
    s[r["k"]] = s.get(r["k"], 0) + r["v"]
for k in n: print("{\"k\":\"%s\",\"n\":%d,\"s\":%d}" % (k, n[k], s[k]))' < "$SCRATCH/in.jsonl" | sort > "$SCRATCH/a.expected"
await_committed "$aout" 7
committed "$aout" | sort > "$SCRATCH/a.got"
assert_files_equal "$SCRATCH/a.expected" "$SCRATCH/a.got" "agg: totals per key, exact"

finish
