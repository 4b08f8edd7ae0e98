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

# Debian's prometheus package gives `promtool` and the reference `prometheus`
# server that the end-to-end tests compare against.
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  echo "installing Debian's prometheus package for the end-to-end tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
command -v promtool >/dev/null || { echo "FATAL: promtool is still missing" >&2; exit 1; }
# The host collector's end-to-end test compares /metrics/node with the real node_exporter.
if ! command -v prometheus-node-exporter >/dev/null; then
  echo "installing Debian's prometheus-node-exporter for the host collector test" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus-node-exporter >/dev/null
fi
command -v prometheus-node-exporter >/dev/null || { echo "FATAL: prometheus-node-exporter is missing" >&2; exit 1; }
# Debian's Alertmanager 0.25 and amtool: the notification end-to-end tests
# send alerts to it and drive Sightline's silences API with amtool.
if ! command -v prometheus-alertmanager >/dev/null || ! command -v amtool >/dev/null; then
  echo "installing Debian's prometheus-alertmanager package for the notification tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
fi
command -v amtool >/dev/null || { echo "FATAL: amtool is still missing" >&2; exit 1; }
# VictoriaMetrics receives Sightline's remote_write in tests/e2e_remote_write_out.rs.
if ! command -v victoria-metrics >/dev/null; then
  echo "installing Debian's victoria-metrics package for the remote-write test" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends victoria-metrics >/dev/null
fi
command -v victoria-metrics >/dev/null || { echo "FATAL: victoria-metrics is still missing" >&2; exit 1; }

# The pinned Python venv (SciPy, Evidently, scikit-learn) that the drift
# reference tests compare against; fails loudly if it cannot be built.
bash tests/reference/setup-venv.sh

# The UI's browser tests (tests/e2e_ui.rs) drive Debian's chromium with playwright-core;
# the build itself needs Node.js and npm (build.rs builds ui/).
if ! command -v chromium >/dev/null || ! command -v npm >/dev/null; then
  echo "installing chromium, nodejs and npm for the UI build and browser tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  command -v npm >/dev/null || apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
command -v chromium >/dev/null || { echo "FATAL: chromium is still missing" >&2; exit 1; }
command -v npm >/dev/null || { echo "FATAL: npm is still missing (the UI build needs Node.js 20+)" >&2; exit 1; }

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
