# Shared by scripts/demo and scripts/test: make .venv with every package installed (editable).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "Python 3.10+ needed (set PYTHON=...)" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $("$PY" --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.installed
sources=$(ls pyproject.toml packages/*/pyproject.toml | xargs cat | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sources" ]; then
  echo "== installing the packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q ${LAB_PIP_EXTRA:-} $(for p in packages/*/; do
      printf -- '-e %s ' "$p"; done) -e ".[dev]"
  # optional extras that the tests exercise
  for p in packages/*/; do
    for extra in $(.venv/bin/python - "$p" <<'PY'
import sys, tomllib
data = tomllib.load(open(sys.argv[1] + "pyproject.toml", "rb"))
print(" ".join(data["project"].get("optional-dependencies", {})))
PY
    ); do .venv/bin/python -m pip install -q -e "$p[$extra]"; done
  done
  echo "$sources" > "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
