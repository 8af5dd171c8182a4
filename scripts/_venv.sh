# Sourced by scripts/demo and scripts/test: make .venv (once) and install into it what the caller needs:
#   need_venv core   lab-core alone (editable): all that examples/demo.toml uses
#   need_venv all    lab-core, then every other package with its extras and the test tools (the
#                    workspace pyproject.toml's dev extra)
# .venv/.stamp-core and .venv/.stamp-all hold the hash of the pyproject.toml files each install came
# from. "all" includes lab-core, so the scripts run in either order install only what is missing,
# and an edited pyproject.toml installs again. Each step prints a line, pip's own progress, its time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
# shellcheck disable=SC2206 # LAB_PIP_EXTRA is a list of pip options
PIP=(.venv/bin/python -m pip install --disable-pip-version-check ${LAB_PIP_EXTRA:-})

_microseconds() { echo "${EPOCHREALTIME/[.,]/}"; }

step() {  # step LABEL COMMAND…: say what is being done, do it, say how long it took
  local label=$1 start tenths
  shift
  start=$(_microseconds)
  echo "== $label"
  "$@"
  tenths=$(( ($(_microseconds) - start) / 100000 ))
  echo "== $label: done in $((tenths / 10)).$((tenths % 10)) s"
}

_hash() { cat "$@" | sha1sum | cut -c1-12; }
_current() { [ -f ".venv/.stamp-$1" ] && [ "$(cat ".venv/.stamp-$1")" = "$2" ]; }

_every_package() {  # one pip argument a line: every package but lab-core (editable), the requirements
  # of their extras and the workspace's test tools. Extras are spelled out rather than "-e pkg[extra]":
  # pip 23 then fails to see that the editable package also satisfies another package's dependency.
  .venv/bin/python - <<'PY'
import pathlib
try:
    import tomllib
except ImportError:  # Python 3.10: lab-core, installed first, brought tomli
    import tomli as tomllib
requirements = tomllib.loads(pathlib.Path("pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
for project in sorted(pathlib.Path("packages").glob("*/pyproject.toml")):
    if project.parent.name != "core":
        print(f"-e\n{project.parent}")
    for extra in tomllib.loads(project.read_text())["project"].get("optional-dependencies", {}).values():
        requirements += extra
print("\n".join(dict.fromkeys(requirements)))
PY
}

need_venv() {
  local core all
  core=$(_hash packages/core/pyproject.toml)
  all=$(_hash pyproject.toml packages/*/pyproject.toml)
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || { echo "Python 3.10+ needed (set PYTHON=...)" >&2; exit 1; }
  [ -x .venv/bin/python ] || step "creating .venv with $("$PY" --version)" "$PY" -m venv .venv
  if ! _current all "$all" && ! _current core "$core"; then
    step "installing lab-core into .venv" "${PIP[@]}" -e packages/core
    echo "$core" > .venv/.stamp-core
  fi
  if [ "$1" = all ] && ! _current all "$all"; then
    local packages
    mapfile -t packages < <(_every_package)
    step "installing the other packages, their extras and the test tools into .venv" "${PIP[@]}" "${packages[@]}"
    echo "$all" > .venv/.stamp-all
  fi
  export PATH="$PWD/.venv/bin:$PATH"
}
