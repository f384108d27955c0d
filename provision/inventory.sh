#!/usr/bin/env bash
# Lists every installed package of the builder for the image's SBOM: ONE JSON object on stdout,
# nothing else; all progress goes to stderr. Runs as root via sudo after verify.sh and before
# cleanup.sh, on Debian 12 and Ubuntu 22.04/24.04. Reads only: installs and changes nothing.
#
# Output (lists sorted by name, case-insensitively, then version and arch, without duplicates:
# the same system gives the same bytes):
#   {"os": {"id": "debian", "versionId": "12", "prettyName": "...", "arch": "amd64"},
#    "dpkg": [{"name", "version", "arch", "source"?}],   installed dpkg packages; "source" only
#                                                        when the source package's name differs
#    "pip": [{"name", "version"}],   Python distributions: the venv's (/opt/dse) for the pip
#                                    source, those /usr/bin/python3 imports for the apt source
#    "r": [{"name", "version"}]}     R packages when R is installed, without R's own base
#                                    packages (base, stats, ...: part of r-base-core, not CRAN)
#
# Env:
#   DSE_TOOLS          selected tool groups (default "python scipy jupyter"): a selected group
#                      whose interpreter is missing (python venv, R) is an error, not an empty list
#   DSE_PYTHON_SOURCE  pip (default) or apt: which Python installation is listed
#   DSE_FINGERPRINT    accepted and ignored (the SBOM takes it from the program)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
dse_init

dse_read_selection
VENV_PYTHON=/opt/dse/bin/python
SYSTEM_PYTHON=/usr/bin/python3
TMPD=$(mktemp -d)
# dse_on_exit reports a failure from $?, so it must see the script's status, not rm's.
remove_tmpd_and_report() {
  local rc=$?
  rm -rf "$TMPD"
  (exit "$rc") || dse_on_exit
}
trap remove_tmpd_and_report EXIT

dse_step "check inputs"
case "$PYTHON_SOURCE" in
  pip | apt) ;;
  *) dse_die "DSE_PYTHON_SOURCE must be pip or apt, got '$PYTHON_SOURCE'" ;;
esac
# The JSON is encoded by Python, never by hand.
[ -x "$SYSTEM_PYTHON" ] || dse_die "$SYSTEM_PYTHON is missing: it encodes the inventory"

# Writes "name<TAB>version<TAB>arch<TAB>source" per installed package (half-installed, removed
# and config-files-only packages are not in the image's software).
list_dpkg_packages() {
  # shellcheck disable=SC2016 # dpkg-query expands its own ${field}s
  local format='${db:Status-Status}\t${Package}\t${Version}\t${Architecture}\t${source:Package}\n'
  dpkg-query -W -f="$format" |
    awk -F '\t' -v OFS='\t' '$1 == "installed" { print $2, $3, $4, $5 }'
}

# Writes a JSON list of {name, version} of the distributions the given interpreter imports,
# first on sys.path winning (that is the one `import` finds). -I: no user site, no cwd.
list_python_distributions() {
  "$1" -I - <<'PY'
import importlib.metadata as md
import json
import re
import sys

seen = {}
for dist in md.distributions():
    name = dist.metadata["Name"]
    version = dist.version
    if not name or not version:
        continue
    key = re.sub(r"[-_.]+", "-", name).lower()
    seen.setdefault(key, {"name": name, "version": version})
json.dump(list(seen.values()), sys.stdout)
PY
}

# Writes "name<TAB>version" per R package of every library in .libPaths().
list_r_packages() {
  Rscript -e 'ip <- installed.packages(fields = "Priority")
not_base <- is.na(ip[, "Priority"]) | ip[, "Priority"] != "base"
ip <- ip[not_base, c("Package", "Version"), drop = FALSE]
if (nrow(ip) > 0) cat(sprintf("%s\t%s\n", ip[, "Package"], ip[, "Version"]), sep = "")'
}

# Reads the lists from $TMPD and prints the inventory object.
print_inventory_json() {
  "$SYSTEM_PYTHON" -I - "$TMPD" "$(dpkg --print-architecture)" <<'PY'
import json
import os
import platform
import sys

tmpd, arch = sys.argv[1], sys.argv[2]


def read_tsv(name, width):
    rows = []
    with open(os.path.join(tmpd, name), encoding="utf-8") as f:
        for line in f:
            row = line.rstrip("\n").split("\t")
            if len(row) != width or not all(row[:2]):
                sys.exit(f"{name}: expected {width} fields, got {line!r}")
            rows.append(row)
    return rows


def unique_sorted(items, *keys):
    """Without duplicates, by name (case-insensitive, then exact), then the other keys."""
    by_key = {tuple(i[k] for k in keys): i for i in items}
    return [by_key[k] for k in sorted(by_key, key=lambda k: (k[0].lower(), *k))]


dpkg = []
for name, version, pkg_arch, source in read_tsv("dpkg.tsv", 4):
    entry = {"name": name, "version": version, "arch": pkg_arch}
    if source and source != name:
        entry["source"] = source
    dpkg.append(entry)

with open(os.path.join(tmpd, "python.json"), encoding="utf-8") as f:
    pip = [{"name": d["name"], "version": d["version"]} for d in json.load(f)]

r = [{"name": n, "version": v} for n, v in read_tsv("r.tsv", 2)]

release = platform.freedesktop_os_release()
inventory = {
    "os": {
        "id": release.get("ID", "unknown").lower(),
        "versionId": release.get("VERSION_ID", ""),
        "prettyName": release.get("PRETTY_NAME", ""),
        "arch": arch,
    },
    "dpkg": unique_sorted(dpkg, "name", "version", "arch"),
    "pip": unique_sorted(pip, "name", "version"),
    "r": unique_sorted(r, "name", "version"),
}
json.dump(inventory, sys.stdout, separators=(",", ":"))
sys.stdout.write("\n")
PY
}

dse_step "dpkg packages"
list_dpkg_packages >"$TMPD/dpkg.tsv"
dse_log "$(wc -l <"$TMPD/dpkg.tsv") dpkg packages"

dse_step "python distributions ($PYTHON_SOURCE)"
python_groups=false
if selected python || selected scipy || selected jupyter; then python_groups=true; fi
if [ "$PYTHON_SOURCE" = pip ]; then
  python="$VENV_PYTHON"
  if [ ! -x "$python" ] && [ "$python_groups" = true ]; then
    dse_die "the venv's $python is missing although Python groups are selected"
  fi
else
  python="$SYSTEM_PYTHON"
fi
if [ -x "$python" ]; then
  list_python_distributions "$python" >"$TMPD/python.json"
else
  printf '[]' >"$TMPD/python.json"
fi

dse_step "R packages"
if command -v Rscript >/dev/null 2>&1; then
  list_r_packages >"$TMPD/r.tsv"
elif selected r; then
  dse_die "the r group is selected but Rscript is missing"
else
  : >"$TMPD/r.tsv"
fi
dse_log "$(wc -l <"$TMPD/r.tsv") R packages"

dse_step "print the inventory"
print_inventory_json
DSE_STEP="done"
