#!/usr/bin/env bash
# Runs schemathesis against a real `vigil serve` (noauth, SQLite in a temporary directory),
# driven by the OpenAPI document the server itself serves at /v1/openapi.json.
#
#   fuzz-api.sh VIGIL_BINARY [schemathesis run options…]
#
# Counts the server's answers from its own /metrics, looks for panics in its log, and ends with
# `fuzz-api/5xx = N in R requests`. Fails when schemathesis found a failure, on any 5xx, or on
# a panic. FUZZ_API_REPORT names a file to which the figures are also written.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vigil=$1
shift
venv=$(bash "$here/venv.sh")
work=$(mktemp -d)
log=$work/vigil.log
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

NO_COLOR=1 RUST_LOG=info,vigil_api=warn "$vigil" serve --listen 127.0.0.1:0 \
  --metrics-listen 127.0.0.1:0 --data-dir "$work/data" 2>"$log" >/dev/null &
pid=$!
address() { grep "$1" "$log" | sed -n 's/.*address=\([^ ]*\).*/\1/p' | head -n1; }
for _ in $(seq 600); do
  api=$(address "API listening")
  metrics=$(address "serving metrics")
  [ -n "$api" ] && [ -n "$metrics" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "vigil serve exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$api" ] || { cat "$log" >&2; echo "vigil serve did not start" >&2; exit 1; }

# Checks: no 5xx; statuses, content types and bodies as described; schema-violating input
# refused. Not positive_data_acceptance: the printable-text formats of names cannot be told to
# a generator, so some generated names are rightly refused.
status=0
"$venv/bin/st" run "http://$api/v1/openapi.json" --url "http://$api" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
  --suppress-health-check all --no-color "$@" >&2 || status=$?

counts=$("$venv/bin/python" - "http://$metrics/metrics" <<'PY'
import re, sys, urllib.request
text = urllib.request.urlopen(sys.argv[1]).read().decode()
total = errors = 0
for line in text.splitlines():
    m = re.match(r'vigil_api_request_duration_seconds_count\{([^}]*)\} (\S+)', line)
    if m:
        n = int(float(m.group(2)))
        total += n
        if 'status="5xx"' in m.group(1):
            errors += n
print(errors, total)
PY
)
read -r errors total <<<"$counts"
panics=$(grep -c "panicked" "$log" || true)
if [ "$panics" -gt 0 ]; then grep -B2 -A10 "panicked" "$log" >&2; fi
if [ "$errors" -gt 0 ]; then grep -i "error" "$log" | head -n 20 >&2; fi
summary="fuzz-api/5xx = $errors in $total requests"
if [ -n "${FUZZ_API_REPORT:-}" ]; then
  {
    echo "schemathesis $(sed -n 's/^schemathesis==//p' "$here/requirements.txt") against vigil serve (SQLite, noauth)"
    echo "options: $*"
    echo "requests: $total"
    echo "5xx: $errors"
    echo "panics: $panics"
    echo "schemathesis exit status: $status"
    echo "$summary"
  } >"$FUZZ_API_REPORT"
fi
echo "panics: $panics, schemathesis exit status: $status"
echo "$summary"
[ "$status" -eq 0 ] && [ "$errors" -eq 0 ] && [ "$panics" -eq 0 ]
