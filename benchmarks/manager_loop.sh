#!/usr/bin/env bash
# The collection manager's loop at scale: preview vs dry run, fields, results export memory.
# Usage: benchmarks/manager_loop.sh [CUSTOMERS]   (default 1000000; needs the embedded cluster
# or SQLCOMPILER_DSN pointing at a scratch database: it loads demo data there).
# Prints a report; the targets (issue 15) are checked by reading it, never by a timed test.
set -euo pipefail
N=${1:-1000000}
S=${SQLCOMPILER:-sqlcompiler}
TIME=/usr/bin/time
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
secs() { "$TIME" -f "%e %M" -o "$tmp/t" "$@" > "$tmp/out" 2> "$tmp/err"; cat "$tmp/t"; }

echo "# manager loop at $N customers ($(date -u +%Y-%m-%dT%H:%MZ))"
"$TIME" -f "demo data + configuration + first run: %e s" $S demo --customers "$N" > /dev/null
# a realistic change: lower one campaign's dpd threshold from 30 to 20
sed 's/field_value: 30}/field_value: 20}/' "$(dirname "$0")/../examples/demo.yaml" > "$tmp/draft.yaml"
for i in 1 2; do
  read -r dry _ < <(secs $S run --dry-run)
  read -r prev _ < <(secs $S config plan "$tmp/draft.yaml" --preview)
  echo "round $i: run --dry-run ${dry} s, config plan --preview ${prev} s, ratio $(awk "BEGIN {printf \"%.2f\", $prev / $dry}")"
done
read -r f _ < <(secs $S fields)
echo "fields: ${f} s ($(grep -c TABLESAMPLE "$tmp/out" || true) sampled tables)"
read -r e rss < <(secs $S results export --out "$tmp/feed.csv")
echo "results export csv: ${e} s, peak RSS $((rss / 1024)) MB, $(wc -l < "$tmp/feed.csv") lines"
read -r e rss < <(secs $S results export --format jsonl --out "$tmp/feed.jsonl")
echo "results export jsonl: ${e} s, peak RSS $((rss / 1024)) MB, $(wc -l < "$tmp/feed.jsonl") assignments"
