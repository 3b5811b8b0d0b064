#!/usr/bin/env bash
# Validate the infrastructure code with no Bicep compiler and no Azure account:
# pycep-parser parses every .bicep file, checkov runs the built-in and the custom (CKV_SWB_*)
# policies on infra/, the Dockerfile and the workflows, the custom policies are proven against
# bad and good samples, and infra/ is checked for drift against itself and the binary.
# See infra/validate.py for the individual checks.
#
# Needs Python >= 3.11 and pip (PyPI reachable). The tools are installed, with pinned versions,
# into a virtualenv outside the repository (default: $TMPDIR/switchboard-infra-venv, override
# with SWITCHBOARD_INFRA_VENV); it is reused while the pins do not change.
set -euo pipefail

cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${SWITCHBOARD_INFRA_VENV:-${TMPDIR:-/tmp}/switchboard-infra-venv}"
PYCEP_LATEST_VERSION="0.7.1"
LARK_VERSION="1.3.1"

log() { printf '==> %s\n' "$*"; }

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "infra/validate.sh: $PYTHON not found (need Python >= 3.11 with pip)" >&2
  exit 2
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "infra/validate.sh: $("$PYTHON" --version 2>&1) is too old (need >= 3.11 for tomllib)" >&2
  exit 2
fi

stamp="$( { cat infra/requirements.txt infra/constraints.txt; echo "$PYCEP_LATEST_VERSION $LARK_VERSION"; "$PYTHON" --version; } | sha256sum | cut -d' ' -f1)"

pip_quiet=(--quiet --disable-pip-version-check --no-input)

# pip install into a directory. --target never touches the system site-packages, so PEP 668's
# "externally managed" guard is moot; older pips do not know the flag, hence the retry.
pip_target() {
  local dir="$1"
  shift
  mkdir -p "$dir"
  "$PYTHON" -m pip install "${pip_quiet[@]}" --break-system-packages --target "$dir" "$@" 2>/dev/null \
    || "$PYTHON" -m pip install "${pip_quiet[@]}" --target "$dir" "$@"
}

install_tools() {
  rm -rf "$VENV"
  if "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
    VENV_PY="$VENV/bin/python"
    "$VENV_PY" -m pip install "${pip_quiet[@]}" -r infra/requirements.txt -c infra/constraints.txt
  else
    # Debian without python3-venv: install into a plain directory instead.
    log "python venv unavailable; installing into $VENV/site with pip --target"
    pip_target "$VENV/site" -r infra/requirements.txt -c infra/constraints.txt
  fi
  # The newest pycep-parser as a second, stricter opinion on the syntax (checkov pins an older one).
  pip_target "$VENV/pycep-latest" "pycep-parser==$PYCEP_LATEST_VERSION" "lark==$LARK_VERSION"
  echo "$stamp" >"$VENV/.stamp"
}

if [ ! -f "$VENV/.stamp" ] || [ "$(cat "$VENV/.stamp")" != "$stamp" ]; then
  log "installing checkov and pycep-parser into $VENV"
  install_tools
fi

if [ -x "$VENV/bin/python" ]; then
  run_python=("$VENV/bin/python")
  export SWITCHBOARD_SHELLCHECK="$VENV/bin/shellcheck"
else
  export PYTHONPATH="$VENV/site${PYTHONPATH:+:$PYTHONPATH}"
  run_python=("$PYTHON")
  export SWITCHBOARD_SHELLCHECK="$VENV/site/bin/shellcheck"
fi
export SWITCHBOARD_PYCEP_LATEST="$VENV/pycep-latest"
# checkov: no network, no telemetry, quiet logs.
export BC_SKIP_MAPPING=TRUE
export CHECKOV_NO_OUTPUT_TRUNCATION=1
export LOG_LEVEL=ERROR

log "validating infra (pycep-parser, checkov, consistency)"
exec "${run_python[@]}" infra/validate.py
