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

# The pinned Python venv (SciPy, Evidently, scikit-learn) that the drift
# reference tests compare against; fails loudly if it cannot be built.
bash tests/reference/setup-venv.sh

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
