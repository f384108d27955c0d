#!/usr/bin/env bash
# Proves every selected tool really works (imports and a tiny computation, not just "is the
# file there") and prints the image manifest: ONE JSON object on stdout, nothing else.
# stdout is what the Provisioner stores as the manifest; all progress goes to stderr.
#
# Manifest: tool -> version, plus "os", "kernel", "fingerprint", "time" (UTC, ISO 8601),
# "python_source", "updates_applied" (a number: the pending updates install.sh applied) and
# "build_date" (UTC, YYYY-MM-DD; both from /etc/dse-image/updates) and, for the pip source, every
# locked package of the selected groups.
#
# Env: DSE_TOOLS, DSE_PYTHON_SOURCE, DSE_FINGERPRINT, DSE_PIP_LOCK as for install.sh.
# Exits non-zero naming every tool that failed, or every package still upgradable from the
# package index install.sh fetched (and prints no manifest then).
# shellcheck source-path=SCRIPTDIR disable=SC2016 # inner shells and R/Python expand their own $
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
dse_init

dse_read_selection
PIP_LOCK="${DSE_PIP_LOCK:-$HERE/python-requirements.lock}"
if [ "$PYTHON_SOURCE" = pip ]; then
  PY=/opt/dse/bin/python
  JUPYTER=/opt/dse/bin/jupyter
else
  PY=python3
  JUPYTER=jupyter
fi
# Plots must not look for a display on a headless builder.
export MPLBACKEND=Agg
TMPD=$(mktemp -d)
# dse_on_exit reports the step that failed from $?, which must survive the rm.
trap 'rc=$?; rm -rf "$TMPD"; (exit "$rc") || dse_on_exit' EXIT
cd "$TMPD"

KEYS=()
declare -A VERSIONS=()
FAILED=()

# check NAME CMD...: CMD prints the version on its last stdout line.
check() {
  local name="$1" out rc=0
  shift
  dse_log "checking $name"
  out=$(timeout 600 "$@" 2>"$TMPD/err") || rc=$?
  out=$(printf '%s' "$out" | tail -n1)
  if [ "$rc" -ne 0 ] || [ -z "$out" ]; then
    dse_log "FAILED: $name (exit $rc): $(tail -n5 "$TMPD/err" | tr '\n' ' ')"
    FAILED+=("$name")
    return 0
  fi
  KEYS+=("$name")
  VERSIONS[$name]="$out"
}

# pycheck NAME MODULE CODE: imports MODULE as m, runs CODE, prints m.__version__.
pycheck() {
  check "$1" "$PY" -c "import $2 as m
$3
print(m.__version__)"
}

dse_step "verify: ${GROUPS_SELECTED[*]} ($PYTHON_SOURCE)"

if selected python || selected scipy || selected jupyter; then
  check python "$PY" -c 'import platform, json, ssl, sqlite3
assert sum(range(10)) == 45 and json.loads("[1]") == [1]
print(platform.python_version())'
  check pip "$PY" -m pip --version --disable-pip-version-check
  [ -n "${VERSIONS[pip]:-}" ] && VERSIONS[pip]=$(awk '{ print $2 }' <<<"${VERSIONS[pip]}")
  if [ "$PYTHON_SOURCE" = apt ]; then
    check venv sh -c 'python3 -m venv --without-pip "$1/venv" && "$1/venv/bin/python" -c "import sys; assert sys.prefix != sys.base_prefix; print(sys.version.split()[0])"' sh "$TMPD"
  fi
fi

if selected scipy; then
  pycheck numpy numpy 'assert abs(m.linalg.det(m.eye(3) * 2) - 8) < 1e-9'
  pycheck scipy scipy 'from scipy import optimize
assert abs(optimize.brentq(lambda x: x * x - 4, 0, 5) - 2) < 1e-9'
  pycheck pandas pandas 'assert m.DataFrame({"a": [1, 2, 3]})["a"].sum() == 6'
  pycheck scikit-learn sklearn 'from sklearn.linear_model import LinearRegression
r = LinearRegression().fit([[0], [1], [2]], [1, 3, 5])
assert abs(r.coef_[0] - 2) < 1e-9'
  pycheck matplotlib matplotlib 'import io, matplotlib.pyplot as plt
plt.plot([1, 2, 3]); b = io.BytesIO(); plt.savefig(b, format="png"); assert b.tell() > 0'
  pycheck seaborn seaborn 'import io, matplotlib.pyplot as plt
m.histplot([1, 2, 2, 3]); b = io.BytesIO(); plt.savefig(b, format="png"); assert b.tell() > 0'
  pycheck statsmodels statsmodels 'import numpy as np, statsmodels.api as sm
x = sm.add_constant(np.arange(5.0)); fit = sm.OLS(2 * np.arange(5.0) + 1, x).fit()
assert abs(fit.params[1] - 2) < 1e-6'
fi

if selected jupyter; then
  pycheck jupyter_core jupyter_core 'from jupyter_core.paths import jupyter_path
assert jupyter_path()'
  if [ "$PYTHON_SOURCE" = pip ]; then
    check jupyterlab "$JUPYTER" lab --version
  else
    check notebook "$JUPYTER" notebook --version
  fi
  pycheck ipykernel ipykernel 'from ipykernel.kernelspec import get_kernel_dict
assert get_kernel_dict()["language"] == "python"'
fi

if selected r; then
  check R Rscript -e 'stopifnot(sum(1:10) == 55, abs(solve(matrix(c(2, 0, 0, 2), 2))[1, 1] - 0.5) < 1e-9)
cat(paste0(R.version$major, ".", R.version$minor), "\n", sep = "")'
  check IRkernel Rscript -e 'suppressMessages(library(IRkernel))
cat(as.character(packageVersion("IRkernel")), "\n", sep = "")'
  if selected jupyter; then
    check ir-kernelspec sh -c '"$1" kernelspec list | grep -qw ir && echo registered' sh "$JUPYTER"
  fi
fi

if selected tools; then
  check git sh -c 'git init -q "$1/repo" && git --version | awk "{ print \$3 }"' sh "$TMPD"
  check gcc sh -c 'printf "int main(void){return 0;}\n" >"$1/t.c" && gcc -o "$1/t" "$1/t.c" && "$1/t" && gcc -dumpfullversion' sh "$TMPD"
  check make sh -c 'make --version | awk "NR == 1 { print \$3 }"'
  check curl sh -c 'curl --version | awk "NR == 1 { print \$2 }"'
fi

# The pip source must match the lock, not whatever the index served last.
if [ "$PYTHON_SOURCE" = pip ] && [ -x "$PY" ] && [ -f "$PIP_LOCK" ]; then
  while IFS= read -r line; do
    name="${line%%==*}"
    want="${line#*==}"
    want="${want%%[[:space:];]*}"
    have=$("$PY" -c 'import sys, importlib.metadata as md; print(md.version(sys.argv[1]))' "$name" </dev/null 2>/dev/null || true)
    if [ "$have" != "$want" ]; then
      dse_log "FAILED: $name: locked $want, installed ${have:-nothing}"
      FAILED+=("$name")
    elif [ -z "${VERSIONS[$name]:-}" ]; then
      KEYS+=("$name")
      VERSIONS[$name]="$have"
    fi
  done < <(awk -v groups=" ${GROUPS_SELECTED[*]} python " '
    /^# \[[a-z-]+\]/ { sec = $2; gsub(/[][]/, "", sec); next }
    /^[[:space:]]*(#|$)/ { next }
    index(groups, " " sec " ") && /==/ { print }
  ' "$PIP_LOCK")
fi

if [ "${#FAILED[@]}" -gt 0 ]; then
  DSE_STEP="verify ${FAILED[*]}"
  dse_die "these tools do not work: ${FAILED[*]}"
fi

# Against the index install.sh fetched (verify changes nothing, so no apt-get update here); what
# install.sh would upgrade, so held-back phased updates on Ubuntu do not count.
dse_step "check that no update is pending"
pending=$(dse_pending_upgrades) || dse_die "apt-get cannot work out the pending updates"
if [ -n "$pending" ]; then
  dse_die "pending updates not applied (install.sh applies them): $(awk '{ printf "%s%s %s -> %s", sep, $1, $2, $3; sep = ", " }' <<<"$pending")"
fi
updates_applied=$(sed -n 's/^updates_applied=\(0\|[1-9][0-9]*\)$/\1/p' "$DSE_UPDATES_RECORD" 2>/dev/null || true)
build_date=$(sed -n 's/^build_date=\([0-9]\{4\}-[0-9][0-9]-[0-9][0-9]\)$/\1/p' "$DSE_UPDATES_RECORD" 2>/dev/null || true)
if [ -z "$updates_applied" ] || [ -z "$build_date" ]; then
  dse_die "$DSE_UPDATES_RECORD has no updates_applied and build_date: install.sh did not finish applying the pending updates"
fi

{
  printf '{'
  for k in "${KEYS[@]}"; do
    printf '%s:%s,' "$(dse_json_string "$k")" "$(dse_json_string "${VERSIONS[$k]}")"
  done
  printf '"python_source":%s,' "$(dse_json_string "$PYTHON_SOURCE")"
  printf '"os":%s,' "$(dse_json_string "$(dse_os_pretty)")"
  printf '"kernel":%s,' "$(dse_json_string "$(uname -r)")"
  printf '"fingerprint":%s,' "$(dse_json_string "${DSE_FINGERPRINT:-}")"
  printf '"updates_applied":%d,' "$updates_applied"
  printf '"build_date":%s,' "$(dse_json_string "$build_date")"
  printf '"time":%s' "$(dse_json_string "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
  printf '}\n'
}
DSE_STEP="done"
