#!/usr/bin/env bash
# Creates target/reference-venv from tests/reference/requirements.txt, once:
# a stamp holding the requirements' checksum makes reruns instant, and a
# changed requirements file rebuilds the venv. Fails loudly: the reference
# tests must never silently skip.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/reference-venv
requirements=tests/reference/requirements.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c "import evidently, scipy, sklearn" 2>/dev/null; then
  exit 0
fi
python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "FATAL: $python is missing; the drift reference tests need Python 3.11+" >&2; exit 1; }
if ! "$python" -c "import venv, ensurepip" 2>/dev/null; then
  echo "installing python3-venv for the reference venv" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
echo "building $venv from $requirements" >&2
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
"$venv/bin/python" -c "import evidently, scipy, sklearn, pandas" || { echo "FATAL: the reference venv does not import" >&2; exit 1; }
echo "$want" > "$stamp"
