#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints, unit tests,
# end-to-end tests against the real binary, and the PromQL conformance suite
# (which reads ../shared/conformance). Installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d ../shared/conformance ]; then
  echo "FATAL: ../shared/conformance is missing; the conformance tests need it beside this checkout" >&2
  exit 1
fi

# What the end-to-end tests run beside Sightline, from Debian's packages:
#   prometheus                promtool and the reference server for the agreement tests
#   prometheus-node-exporter  the host collector is compared with it
#   prometheus-alertmanager   Alertmanager 0.25 and amtool, for the notification tests
#   victoria-metrics          receives Sightline's outgoing remote_write
#   chromium                  the UI's browser tests (playwright-core drives it)
#   nodejs, npm               build.rs builds the UI (Node.js 20+ is preferred)
need=()
for pair in promtool:prometheus prometheus:prometheus prometheus-node-exporter:prometheus-node-exporter \
  amtool:prometheus-alertmanager prometheus-alertmanager:prometheus-alertmanager \
  victoria-metrics:victoria-metrics chromium:chromium npm:npm node:nodejs; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages the tests need: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for cmd in promtool prometheus prometheus-node-exporter amtool prometheus-alertmanager victoria-metrics chromium npm node; do
  command -v "$cmd" >/dev/null || { echo "FATAL: $cmd is still missing" >&2; exit 1; }
done

# The pinned Python venv (SciPy, Evidently, scikit-learn) that the drift
# reference tests compare against; fails loudly if it cannot be built.
bash tests/reference/setup-venv.sh

# A clean checkout gains nothing from incremental state, and it would add
# gigabytes to target/.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
