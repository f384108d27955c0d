"""Image store adapter of the local platforms (qemu: .qcow2, virtualbox: .ova).

An image is a file in outputDir with two files beside it: `<file>.sha256` and `<file>.json`, the
record (state, fingerprint, claims, manifest). A pending image lives in `outputDir/.pending/`
until it is published: publishing renames the file into place, then writes the .sha256, then the
record last, so a record that says `complete` always has its whole file beside it.
Builders are work folders under `<cacheDir>/builds/<stack tag>/`.

STORE_CONFIG: {"outputDir": path, "ext": "qcow2" | "ova", "cacheDir": path or ""}. Relative paths
are relative to the project folder, where Pulumi runs the program and its commands; image IDs are
the paths as configured, so none names a folder of this machine (rule P3). An empty cacheDir is
the user's cache (components/qemu/paths-lib.sh).
"""

import glob
import hashlib
import json
import os

lifecycle = None  # set by imagestore.load_adapter

META_KEYS = {"fingerprint": "fingerprint", "state": "state", "gen": "gen",
             "build_stack": "buildStack", "image_name": "imageName", "final_name": "finalName",
             "boot_test": "bootTest",
             "sbom_sha256": "sbomSha256", "source_image": "sourceImage",
             "superseded_by": "supersededBy"}


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json(path, data):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def builder_alive(work):
    """True when the qemu of builder folder `work` runs (builder_alive in proc-lib.sh): its
    pidfile's process is alive, not a zombie (an exited qemu not yet reaped), and its command line
    names this folder's overlay: a pidfile outlives a qemu killed by SIGKILL, and its PID may be
    another process's by now."""
    try:
        with open(os.path.join(work, "qemu.pid"), encoding="utf-8") as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
        overlay = f"file={os.path.join(os.path.realpath(work), 'overlay.qcow2')},".encode()
        return any(arg.startswith(overlay) for arg in args)
    except (OSError, ValueError, IndexError):
        return False


class Store:
    def __init__(self, platform, config):
        self.platform = platform
        self.out = config["outputDir"]
        self.ext = config.get("ext", "qcow2")
        self.cache = config.get("cacheDir") or default_cache_dir()
        self.pending_dir = os.path.join(self.out, ".pending")

    # --- reading --------------------------------------------------------------------------
    def _image(self, path):
        rec = read_json(f"{path}.json")
        if rec is None or not os.path.isfile(path):
            return None
        if rec.get("state") == "complete":
            # A record without its whole file beside it does not count (size is cheap to check).
            if not os.path.isfile(f"{path}.sha256") or os.path.getsize(path) != rec.get("size"):
                return None
        meta = {k: str(rec[v]) if not isinstance(rec.get(v), (dict, list)) else
                json.dumps(rec[v], separators=(",", ":"))
                for k, v in META_KEYS.items() if rec.get(v) not in (None, "")}
        manifest = rec.get("manifest")
        extra = {"sha256": rec["sha256"]} if rec.get("sha256") else {}
        image = lifecycle.Image(path, rec.get("name", ""), rec.get("createdAt", ""), meta,
                               dict(rec.get("users", {})), dict(rec.get("kept", {})),
                               json.dumps(manifest) if isinstance(manifest, dict) else (manifest or ""),
                               extra)
        # Stack tags whose claim an ImageClaim resource holds (components/store/image.ts).
        image.held = list(rec.get("held", []))
        return image

    def get(self, image_id):
        return self._image(image_id)

    def list_family(self, image_name):
        found = []
        for pattern in (f"*.{self.ext}.json", f".pending/*.{self.ext}.json"):
            for rec_path in sorted(glob.glob(os.path.join(self.out, pattern))):
                image = self._image(rec_path[: -len(".json")])
                if image is not None and image.meta.get("image_name") == image_name:
                    found.append(image)
        return found

    def list_builders(self, stack_tag):
        builders = []
        root = os.path.join(self.cache, "builds", stack_tag)
        for work in sorted(glob.glob(os.path.join(root, "*"))):
            build, gen = _read(os.path.join(work, "build")), _read(os.path.join(work, "gen"))
            if not build or not gen:
                continue
            if builder_alive(work):
                status = "running"
            elif os.path.exists(os.path.join(work, "export.claim")) and os.path.exists(
                    os.path.join(work, "overlay.qcow2")):
                status = "sealed"
            else:
                status = "stopped"
            builders.append({"id": work, "build": build, "gen": gen, "status": status})
        return builders

    # --- writing --------------------------------------------------------------------------
    def _update(self, path, change):
        rec = read_json(f"{path}.json")
        if rec is None:
            raise lifecycle.StoreError(f"no record {path}.json")
        change(rec)
        write_json(f"{path}.json", rec)

    def set_meta(self, image_id, meta, manifest=None):
        def change(rec):
            for k, v in meta.items():
                rec[META_KEYS[k]] = json.loads(v) if k == "boot_test" else v
            if manifest is not None:
                rec["manifest"] = lifecycle.parse_json(manifest, {})
            rec.setdefault("createdAt", lifecycle.now_iso())
            rec.setdefault("name", os.path.basename(image_id)[: -len(f".{self.ext}")])
            rec["id"] = image_id
        if not os.path.exists(f"{image_id}.json"):
            write_json(f"{image_id}.json", {})
        self._update(image_id, change)

    def creation_args(self, meta, manifest):
        raise lifecycle.StoreError("local images are recorded with `pending`")

    def set_claim(self, image, kind, tag, stack_id):
        self._update(image.id, lambda rec: rec.setdefault(kind, {}).__setitem__(tag, stack_id))

    def drop_claim(self, image, kind, tag):
        self._update(image.id, lambda rec: rec.get(kind, {}).pop(tag, None))

    def supersede(self, image, by_name):
        def change(rec):
            rec["supersededBy"] = by_name
            rec["supersededAt"] = lifecycle.now_iso()
        self._update(image.id, change)

    def publish(self, image, name):
        final = os.path.join(self.out, f"{name}.{self.ext}")
        rec = read_json(f"{image.id}.json")
        os.replace(image.id, final)
        digest = sha256_of(final)
        with open(f"{final}.sha256.tmp", "w", encoding="utf-8") as f:
            f.write(f"{digest}  {os.path.basename(final)}\n")
        os.replace(f"{final}.sha256.tmp", f"{final}.sha256")
        rec.update({"id": final, "name": name, "state": "complete", "sha256": digest,
                    "size": os.path.getsize(final)})
        write_json(f"{final}.json", rec)
        os.remove(f"{image.id}.json")
        return final

    def delete(self, image):
        for path in (image.id, f"{image.id}.sha256", f"{image.id}.json"):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass

    def ensure_replicas(self, image):
        return {}


def default_cache_dir():
    """The user's cache, as dse_cache_dir in components/qemu/paths-lib.sh."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dse-image")


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""
