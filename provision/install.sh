#!/usr/bin/env bash
# Installs the selected data-science tool groups on the builder. Runs as root (the Provisioner
# uses `sudo env VAR=... bash install.sh`), from any working directory, on Ubuntu 22.04/24.04
# and Debian 12. First applies the distribution's pending updates (security suite included) from
# a fresh package index, counted in /etc/dse-image/updates with the UTC date for verify.sh's
# manifest. Idempotent: a second run succeeds and installs nothing.
#
# Env (all optional):
#   DSE_TOOLS          space-separated tool groups: python scipy jupyter r tools
#                      (default: "python scipy jupyter")
#   DSE_PYTHON_SOURCE  pip (default): a venv in /opt/dse with the versions pinned by
#                      python-requirements.lock; apt: the distribution's packages
#   DSE_FINGERPRINT    build fingerprint, recorded in /etc/dse-image/build
#   APT_MIRROR         replaces the distribution mirror in the apt sources (e.g. an internal
#                      mirror of http://deb.debian.org/debian or http://archive.ubuntu.com/ubuntu)
#   PIP_INDEX_URL      package index for pip (read by pip itself); an http:// index is also
#                      trusted (pip ignores plain-http indexes otherwise)
#   http_proxy https_proxy no_proxy   used by apt, pip and curl
#   DSE_PIP_LOCK       lock file to use instead of python-requirements.lock (tests)
#   DSE_LOCK_TIMEOUT   seconds to wait for apt/dpkg locks (default 600), then fail naming the lock
#   DSE_CLOUD_INIT_TIMEOUT  seconds to wait for cloud-init (default 900)
#   DSE_OS_RELEASE     os-release file to read instead of /etc/os-release (tests)
# Exits non-zero naming the step that failed; on any other system than those above, before it
# changes anything.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
dse_init

dse_read_selection
PIP_LOCK="${DSE_PIP_LOCK:-$HERE/python-requirements.lock}"
VENV=/opt/dse

dse_step "check inputs"
dse_require_supported_os
for group in "${GROUPS_SELECTED[@]}"; do
  case "$group" in
    python | scipy | jupyter | r | tools) ;;
    *) dse_die "DSE_TOOLS: unknown tool group '$group' (expected python, scipy, jupyter, r, tools)" ;;
  esac
done
case "$PYTHON_SOURCE" in
  pip | apt) ;;
  *) dse_die "DSE_PYTHON_SOURCE must be pip or apt, got '$PYTHON_SOURCE'" ;;
esac
# Every Python group needs Python itself.
if ! selected python && { selected scipy || selected jupyter; }; then
  GROUPS_SELECTED+=(python)
fi
dse_log "os: $(dse_os_id); groups: ${GROUPS_SELECTED[*]}; python source: $PYTHON_SOURCE"
export http_proxy="${http_proxy:-}" https_proxy="${https_proxy:-}" no_proxy="${no_proxy:-}"
[ -n "$http_proxy" ] || unset http_proxy
[ -n "$https_proxy" ] || unset https_proxy
[ -n "$no_proxy" ] || unset no_proxy

dse_step "wait for cloud-init"
dse_wait_for_cloud_init

if [ -n "${APT_MIRROR:-}" ]; then
  dse_step "point apt at APT_MIRROR"
  mirror="${APT_MIRROR%/}"
  mirror="${mirror//\\/\\\\}"
  mirror="${mirror//&/\\&}"
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # Only the main archive moves: security archives have their own layout and host.
    sed -i -E \
      -e "s#https?://(deb\.debian\.org|ftp\.[a-z.]*debian\.org|[a-z0-9.-]*archive\.ubuntu\.com)/(debian|ubuntu)/?([[:space:]]|\$)#${mirror}\3#g" \
      "$f"
  done
fi

# --- apt package selection ------------------------------------------------------------------
APT_PACKAGES=()
add() { APT_PACKAGES+=("$@"); }
if selected python; then
  if [ "$PYTHON_SOURCE" = apt ]; then
    add python3 python3-pip python3-venv
  else
    add python3 python3-venv
  fi
fi
if [ "$PYTHON_SOURCE" = apt ]; then
  selected scipy && add python3-numpy python3-scipy python3-pandas python3-sklearn \
    python3-matplotlib python3-seaborn python3-statsmodels
  # JupyterLab is not packaged by Debian/Ubuntu: the classic notebook is the apt flavour.
  selected jupyter && add jupyter-core jupyter-client jupyter-notebook python3-ipykernel
fi
selected r && add r-base-core r-cran-irkernel
selected tools && add git build-essential curl ca-certificates

missing=()
dse_step "wait for the package manager locks"
dse_wait_for_locks
for p in "${APT_PACKAGES[@]}"; do
  dse_pkg_installed "$p" || missing+=("$p")
done

# Every run: pending updates can only be seen in a fresh index.
dse_step "apt-get update"
dse_wait_for_locks
dse_retry 4 dse_apt_get update

# `upgrade --with-new-pkgs` rather than `dist-upgrade`: both take an update that needs a new
# package (a kernel ABI bump brings a new linux-image-<abi>), but dist-upgrade may also remove
# installed packages to resolve a conflict, and a build must never drop part of the base.
# Updates apt holds back (Ubuntu's phased updates) stay back, as with `apt upgrade`.
dse_step "apply pending updates"
dse_wait_for_locks
pending=$(dse_pending_upgrades) || dse_die "apt-get cannot work out the pending updates"
updates=0
if [ -n "$pending" ]; then
  updates=$(wc -l <<<"$pending")
  dse_log "pending updates ($updates): $(awk '{ printf "%s%s", sep, $1; sep = " " }' <<<"$pending")"
  # Services restart on the next boot of the image; restarting them under the build is no use.
  NEEDRESTART_MODE=l dse_retry 3 dse_apt_get upgrade --with-new-pkgs
else
  dse_log "no pending updates"
fi
# Counted over every run, so a run after a failed one still reports what the first applied; the
# date is the last run's (UTC). Rewritten only when it changes.
mkdir -p /etc/dse-image
previous=$(sed -n 's/^updates_applied=\(0\|[1-9][0-9]*\)$/\1/p' "$DSE_UPDATES_RECORD" 2>/dev/null || true)
record="updates_applied=$((${previous:-0} + updates))
build_date=$(date -u +%Y-%m-%d)"
if [ "$(cat "$DSE_UPDATES_RECORD" 2>/dev/null || true)" != "$record" ]; then
  printf '%s\n' "$record" >"$DSE_UPDATES_RECORD.new"
  mv "$DSE_UPDATES_RECORD.new" "$DSE_UPDATES_RECORD"
fi

if [ "${#missing[@]}" -gt 0 ]; then
  dse_step "install distribution packages: ${missing[*]}"
  dse_wait_for_locks
  dse_retry 3 dse_apt_get install "${missing[@]}"
else
  dse_log "distribution packages already installed: ${APT_PACKAGES[*]:-none}"
fi

# --- pip ------------------------------------------------------------------------------------
# Requirements of the selected groups: the lock file's `# [group]` sections. The whole file is
# also passed as constraints, so the pinned transitive dependencies hold too.
lock_requirements() {
  awk -v groups=" ${GROUPS_SELECTED[*]} " '
    /^# \[[a-z-]+\]/ { sec = $2; gsub(/[][]/, "", sec); next }
    /^[[:space:]]*(#|$)/ { next }
    index(groups, " " sec " ") { print }
  ' "$PIP_LOCK"
}

if [ "$PYTHON_SOURCE" = pip ] && selected python; then
  dse_step "python venv $VENV"
  [ -f "$PIP_LOCK" ] || dse_die "pip lock file not found: $PIP_LOCK"
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  pip_args=(--disable-pip-version-check --no-input --retries 5 --timeout 60)
  if [ -n "${PIP_INDEX_URL:-}" ]; then
    export PIP_INDEX_URL
    case "$PIP_INDEX_URL" in
      http://*)
        host="${PIP_INDEX_URL#http://}"
        host="${host%%/*}"
        host="${host##*@}"
        pip_args+=(--trusted-host "${host%%:*}")
        ;;
    esac
  fi
  requirements=$(mktemp)
  lock_requirements >"$requirements"
  dse_step "pip install pinned packages: $(tr '\n' ' ' <"$requirements")"
  if [ -s "$requirements" ]; then
    dse_retry 3 "$VENV/bin/python" -m pip install "${pip_args[@]}" --no-cache-dir \
      -r "$requirements" -c "$PIP_LOCK"
  fi
  rm -f "$requirements"
  # The venv's tools on every login shell's PATH.
  # shellcheck disable=SC2016 # $PATH is for the login shell to expand
  printf 'case ":$PATH:" in *":%s/bin:"*) ;; *) PATH="%s/bin:$PATH" ;; esac\n' "$VENV" "$VENV" \
    >/etc/profile.d/dse-venv.sh.new
  if ! cmp -s /etc/profile.d/dse-venv.sh.new /etc/profile.d/dse-venv.sh 2>/dev/null; then
    mv /etc/profile.d/dse-venv.sh.new /etc/profile.d/dse-venv.sh
  else
    rm -f /etc/profile.d/dse-venv.sh.new
  fi
fi

if selected r && selected jupyter; then
  dse_step "register the R kernel with Jupyter"
  jupyter=$(command -v jupyter || true)
  [ -x "$VENV/bin/jupyter" ] && jupyter="$VENV/bin/jupyter"
  if [ -n "$jupyter" ] && ! "$jupyter" kernelspec list 2>/dev/null | grep -qw ir; then
    PATH="$(dirname "$jupyter"):$PATH" Rscript -e 'IRkernel::installspec(user = FALSE)'
  fi
fi

# A base without a system locale (debootstrap, minimal images) makes cloud-init's locale module
# fail on every instance's first boot: Debian's `locale-gen <locale>` ignores its argument, so
# the `update-locale LANG=en_US.UTF-8` that follows rejects a locale that was never generated.
# C.UTF-8 is built into glibc (nothing to generate) and gives R, Python and Jupyter UTF-8; a
# locale the base already set is kept.
dse_step "default locale"
if ! grep -qs '^LANG=' /etc/default/locale; then
  printf 'LANG=C.UTF-8\n' >>/etc/default/locale
  dse_log "no system locale was set: LANG=C.UTF-8 in /etc/default/locale"
fi

dse_step "record the build"
mkdir -p /etc/dse-image
record="fingerprint=${DSE_FINGERPRINT:-}
tools=${GROUPS_SELECTED[*]}
python_source=$PYTHON_SOURCE"
if [ "$(cat /etc/dse-image/build 2>/dev/null || true)" != "$record" ]; then
  printf '%s\n' "$record" >/etc/dse-image/build
fi

DSE_STEP="done"
dse_log "installed: ${GROUPS_SELECTED[*]}"
