#!/usr/bin/env bash
# Functions shared by export.sh and ova-export.sh (sourced, not run): the local image
# record beside each output file and the check that an output is whole.

# True when $1 exists and its $1.sha256 (sha256sum format) matches it.
sha256_matches() {
  local out=$1
  [ -f "$out" ] && [ -f "$out.sha256" ] &&
    (cd "$(dirname "$out")" && sha256sum --status -c "$(basename "$out").sha256")
}

# Writes $1.sha256 and returns the hash on stdout.
write_sha256() {
  local out=$1 sum
  sum=$(sha256sum "$out" | cut -d' ' -f1)
  printf '%s  %s\n' "$sum" "$(basename "$out")" >"$out.sha256"
  printf '%s\n' "$sum"
}

# Writes the record JSON $1.json: {id, name, createdAt, manifest, sha256, fingerprint,
# sourceImage} from IMAGE_NAME, FINGERPRINT, SOURCE_IMAGE and MANIFEST (verify.sh's JSON).
write_record() {
  local out=$1 sum=$2
  python3 - "$out" "$IMAGE_NAME" "$sum" "${FINGERPRINT:-}" "${SOURCE_IMAGE:-}" "${MANIFEST:-}" \
    >"$out.json.tmp" <<'PY'
import datetime, json, sys
out, name, sha, fp, source, manifest = sys.argv[1:7]
try:
    manifest = json.loads(manifest or "{}")
except ValueError:
    manifest = {"raw": manifest}
print(json.dumps({
    "id": out, "name": name,
    "createdAt": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "manifest": manifest, "sha256": sha, "fingerprint": fp, "sourceImage": source,
}))
PY
  mv "$out.json.tmp" "$out.json"
}

# Prints the record of $1 as one line: the image step's stdout.
print_record() {
  tr -d '\n' <"$1.json"
  echo
}
