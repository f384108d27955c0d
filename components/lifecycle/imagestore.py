#!/usr/bin/env python3
"""The image store: the one place that decides what an image of ours is and who may delete it.

Every platform keeps the same metadata on its images (OpenStack image properties, EC2 tags, the
JSON record beside a local file); an adapter in components/<platform>/store.py maps it. Runs on
the operator's machine, from the program (probe) and from the lifecycle's commands.

Usage: imagestore.py <command>, everything else from the environment (as command.local passes
it):
  STORE         openstack | aws | qemu | virtualbox
  STORE_CONFIG  JSON object of platform settings (region, outputDir, CLI flags, ...)
  probe     IMAGE_NAME STACK_TAG          -> {"images": [...], "builders": [...]}
  source    SOURCE_IMAGE                  -> {"id", "checksum"}: the base image by content
  pending   IMAGE_ID NAME FINGERPRINT GEN STACK_TAG IMAGE_NAME MANIFEST [SBOM_SHA256 SOURCE_IMAGE]
            marks a fresh snapshot as this stack's pending image -> {"id"}
  creation-args  the same metadata as the platform's create call takes it (AWS: the tag list
            JSON), so an image is never seen without it
  publish   PENDING_ID NAME [BOOT_TEST]   -> {"id"}: complete, under its final name
  record    IMAGE_ID IMAGE_NAME STACK_ID STACK_TAG KEEP RETAIN
            claims the image for the stack and applies retention to its previous images
            -> the image record
  release   IMAGE_ID IMAGE_NAME STACK_ID STACK_TAG RETAIN
            drops the stack's claim; deletes what no stack claims any more
  discard   NAME GEN STACK_TAG IMAGE_NAME: deletes the image this stack's build GEN made for NAME
            unless it was published
The deletes (release, discard) read only their stored environment, never the step's stored
stdout: a `pulumi refresh` can empty it (pulumi/pulumi-command#1377, rule P4).
  discard-image  IMAGE_ID: deletes that image unless it was published
  fail      IMAGE_ID: marks a pending image failed (kept for debugging, never published)
Exit status 1 with one line "imagestore: ..." on stderr when something fails.
"""

import datetime
import importlib.util
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
COMPONENTS = os.path.dirname(HERE)


class StoreError(Exception):
    pass


def run(argv, check=True, env=None):
    """Runs a CLI; returns stdout. Failures name the command and its last stderr lines."""
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise StoreError(f"{' '.join(argv[:4])} ... exited {proc.returncode}: {tail}")
    return proc


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def log(message):
    sys.stderr.write(f"==> {os.environ.get('STORE', 'store')}: {message}\n")


# --- metadata kept on every image ---------------------------------------------------------
# Normalized keys; adapters spell them per platform. users/kept are claim sets keyed by the
# stack tag (the value is the full stack ID, for people reading the image).
FIELDS = ("fingerprint", "state", "gen", "build_stack", "image_name", "final_name",
          "boot_test", "sbom_sha256", "source_image", "superseded_by")


class Image:
    """An image of ours, normalized: id, name, created_at, meta (FIELDS), users, kept, manifest."""

    def __init__(self, id, name, created_at, meta, users, kept, manifest, extra=None):
        self.id = id
        self.name = name
        self.created_at = created_at
        self.meta = meta
        self.users = users
        self.kept = kept
        self.manifest = manifest
        self.extra = extra or {}

    @property
    def state(self):
        return self.meta.get("state", "")

    def claims(self):
        return len(self.users) + len(self.kept)

    def probe_view(self):
        # A pending image may carry a temporary name (OpenStack: <name>.pending): report the
        # name it will be published under.
        return {
            "id": self.id, "name": self.meta.get("final_name") or self.name, "state": self.state,
            "fingerprint": self.meta.get("fingerprint", ""), "gen": self.meta.get("gen", ""),
            "buildStack": self.meta.get("build_stack", ""), "createdAt": self.created_at,
            "users": sorted(self.users.values()), "kept": sorted(self.kept.values()),
            # What the record step prints for it: the program exports this when the record step
            # is unchanged but a refresh emptied its stored stdout (rule P4).
            **({"record": self.record()} if self.state == "complete" else {}),
        }

    def record(self):
        rec = {"id": self.id, "name": self.name, "createdAt": self.created_at,
               "manifest": parse_json(self.manifest, {}),
               "fingerprint": self.meta.get("fingerprint", ""),
               "imageName": self.meta.get("image_name", "")}
        if self.meta.get("boot_test"):
            rec["bootTest"] = parse_json(self.meta["boot_test"], None)
        if self.meta.get("sbom_sha256"):
            rec["sbomSha256"] = self.meta["sbom_sha256"]
        rec.update(self.extra)
        return rec


def parse_json(text, fallback):
    try:
        return json.loads(text) if text else fallback
    except ValueError:
        return {"raw": text} if fallback == {} else fallback


def chunks(text, size):
    return [text[i:i + size] for i in range(0, len(text), size)] if text else []


def load_adapter(store, config):
    folder = "qemu" if store == "virtualbox" else store
    path = os.path.join(COMPONENTS, folder, "store.py")
    spec = importlib.util.spec_from_file_location(f"dse_store_{folder}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.lifecycle = sys.modules[__name__]
    return module.Store(store, config)


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        raise StoreError(f"{name} is required")
    return value


# --- commands -----------------------------------------------------------------------------

def cmd_probe(s):
    images = [i.probe_view() for i in s.list_family(env("IMAGE_NAME"))]
    builders = s.list_builders(env("STACK_TAG"))
    return {"images": images, "builders": builders}


def cmd_source(s):
    """What a build would start from, by content (the fingerprint covers it)."""
    return s.describe_source(env("SOURCE_IMAGE"))


def pending_meta():
    return {
        "fingerprint": env("FINGERPRINT"), "state": "pending", "gen": env("GEN"),
        "build_stack": env("STACK_TAG"), "image_name": env("IMAGE_NAME"), "final_name": env("NAME"),
        "sbom_sha256": os.environ.get("SBOM_SHA256", ""),
        "source_image": os.environ.get("SOURCE_IMAGE", ""),
    }


def cmd_pending(s):
    meta = pending_meta()
    image_id = env("IMAGE_ID")
    s.set_meta(image_id, {k: v for k, v in meta.items() if v}, manifest=os.environ.get("MANIFEST", ""))
    log(f"pending image {image_id} ({env('NAME')})")
    return {"id": image_id, "name": env("NAME")}


def cmd_creation_args(s):
    meta = {k: v for k, v in pending_meta().items() if v}
    sys.stdout.write(s.creation_args(meta, os.environ.get("MANIFEST", "")))
    return None


def cmd_publish(s):
    pending_id = env("PENDING_ID")
    image = s.get(pending_id)
    if image is None:
        raise StoreError(f"pending image {pending_id} is gone; the next pulumi up builds it again")
    if image.state == "failed":
        raise StoreError(f"image {pending_id} failed its boot test; it is never published")
    boot_test = os.environ.get("BOOT_TEST", "")
    if boot_test:
        s.set_meta(pending_id, {"boot_test": json.dumps(json.loads(boot_test), separators=(",", ":"))})
    final_id = s.publish(image, env("NAME"))
    log(f"published {env('NAME')} ({final_id})")
    return {"id": final_id, "name": env("NAME")}


def cmd_record(s):
    image_id, tag = env("IMAGE_ID"), env("STACK_TAG")
    image = s.get(image_id)
    if image is None or image.state != "complete":
        what = ("gone: it was deleted outside Pulumi" if image is None
                else f"{image.state}: the cloud can no longer boot it" if image.state == "broken"
                else f"{image.state}: it was changed outside Pulumi")
        raise StoreError(f"image {image_id} is {what}; run `pulumi up` again to rebuild it")
    family = os.environ.get("IMAGE_NAME") or image.meta.get("image_name", "")
    previous = previous_stack()
    if previous is not None and previous[0] != tag and family:
        take_over_claims(s, family, previous)
        image = s.get(image_id)
    if tag not in image.users:
        s.set_claim(image, "users", tag, env("STACK_ID"))
    if family:
        apply_retention(s, image, family)
    extra = s.ensure_replicas(image)
    image = s.get(image_id)
    image.extra.update(extra)
    # The stack this record belongs to, for the next update of this step (see previous_stack);
    # the record itself stays the last line.
    print(json.dumps({"stack": {"tag": tag, "id": env("STACK_ID")}}))
    return image.record()


def previous_stack():
    """(tag, stack ID) of the stack that made this record step's previous output, or None.
    `pulumi stack rename` and a move to another organisation keep the state and its stored
    environment (pulumi/pulumi pkg/resource/edit/operations.go RenameStack rewrites URNs only), so
    the next `up` updates this step with a new STACK_TAG (rule C2); pulumi-command hands the
    update the previous stdout as PULUMI_COMMAND_STDOUT. A refresh may have emptied it (rule P4):
    then the old name's claims cannot be told and stay (README, "Renaming a stack")."""
    for line in os.environ.get("PULUMI_COMMAND_STDOUT", "").splitlines():
        doc = parse_json(line.strip(), None)
        stack = doc.get("stack") if isinstance(doc, dict) else None
        if isinstance(stack, dict) and stack.get("tag") and stack.get("id"):
            return stack["tag"], stack["id"]
    return None


def take_over_claims(s, family, previous):
    """Moves every claim the stack holds under its previous name (its current image, the images
    retention keeps, a copy's tags) to its current name: no claim is left that no program drops."""
    old_tag, old_id = previous
    tag, stack_id = env("STACK_TAG"), env("STACK_ID")
    log(f"this stack was {old_id}: its claims move to {stack_id}")
    for image in s.list_family(family):
        for kind in ("users", "kept"):
            if old_tag in getattr(image, kind):
                if tag not in getattr(image, kind):
                    s.set_claim(image, kind, tag, stack_id)
                s.drop_claim(image, kind, old_tag)


def apply_retention(s, current, name):
    """Applies this run's retainImages and retention.keep to the stack's previous images (of the
    family `name`), now that `current` is its image. It is the record's create (or update) that does it, with the settings
    of the run that made the change: the release of the replaced record runs later with the
    settings stored when that record was made (rule C3), which may be older."""
    tag, stack_id = env("STACK_TAG"), env("STACK_ID")
    keep = int(os.environ.get("KEEP", "0") or 0)
    retain = os.environ.get("RETAIN", "false") == "true"
    previous = [i for i in s.list_family(name) if i.id != current.id and i.state == "complete"]
    for old in previous:
        if tag in old.users and tag not in old.kept and (retain or keep > 0):
            s.set_claim(old, "kept", tag, stack_id)
    if retain:
        return
    kept = sorted((i for i in s.list_family(name) if i.id != current.id and tag in i.kept),
                  key=lambda i: i.created_at, reverse=True)
    for old in kept[keep:]:
        s.drop_claim(old, "kept", tag)
        fresh = s.get(old.id)
        if fresh is not None:
            delete_if_unclaimed(s, fresh, False)


def delete_if_unclaimed(s, image, retain):
    if retain:
        log(f"retainImages is set: keeping {image.name} ({image.id})")
        return
    fresh = s.get(image.id)
    if fresh is None:
        return
    if fresh.claims() > 0:
        who = ", ".join(sorted(set(fresh.users.values()) | set(fresh.kept.values())))
        log(f"keeping {fresh.name} ({fresh.id}): still used by {who}")
        return
    log(f"deleting {fresh.name} ({fresh.id})")
    s.delete(fresh)


def cmd_release(s):
    image_id = env("IMAGE_ID")
    tag = env("STACK_TAG")
    retain = os.environ.get("RETAIN", "false") == "true"
    image = s.get(image_id)
    if image is not None and tag in getattr(image, "held", ()):
        # The record step of an earlier version, deleted by the first run of this one (rule E1,
        # at the end of the run): the stack's ImageClaim resource holds the claim now.
        log(f"{image.name}: this stack's ImageClaim holds its claim; nothing to release here")
        return {}
    image_name = release_family(image)
    if image is None:
        log(f"image {image_id} is already gone")
        if hasattr(s, "forget"):
            s.forget(image_id, tag)
    else:
        s.drop_claim(image, "users", tag)
    family = [i for i in s.list_family(image_name) if i.state == "complete"]
    successor = next((i for i in family if tag in i.users and i.id != image_id), None)
    if successor is not None:
        # The stack moved on to `successor`: its record already applied the current retention
        # settings (apply_retention), so the ones stored here (maybe older) decide nothing.
        if image is not None:
            fresh = s.get(image.id)
            if fresh is not None and tag in fresh.kept and not fresh.users:
                # Marked only once no stack runs it as its current image.
                s.supersede(fresh, successor.name)
            if fresh is not None:
                delete_if_unclaimed(s, fresh, False)
        return {}
    # The stack stops using this platform (destroy, removed platform): it keeps nothing, and the
    # stored settings are its last.
    for old in [i for i in family if tag in i.kept]:
        s.drop_claim(old, "kept", tag)
        delete_if_unclaimed(s, old, retain)
    if image is not None:
        delete_if_unclaimed(s, image, retain)
    return {}


def release_family(image):
    """The image family the release looks in: the stored IMAGE_NAME. A record stored before the
    environment carried it falls back to the image's own metadata, then to what the step printed
    (when a refresh has not emptied it)."""
    name = os.environ.get("IMAGE_NAME") or (image.meta.get("image_name") if image else "")
    if not name:
        printed = os.environ.get("PULUMI_COMMAND_STDOUT", "").strip().splitlines()
        name = parse_json(printed[-1], {}).get("imageName", "") if printed else ""
    if not name:
        raise StoreError(f"cannot tell the image family of {env('IMAGE_ID')}: IMAGE_NAME is not "
                         "set and the image is gone; nothing else of this stack was released")
    return name


def discard_unpublished(s, image):
    """Deletes an image that never became anyone's: not complete, and claimed by no stack. A
    published image the cloud reads as broken for a while (Glance deactivated, AMI disabled) keeps
    its claims, and a stack that uses it is never left exporting a deleted image (point 8)."""
    if image.state == "complete":
        return
    if image.claims() > 0:
        who = ", ".join(sorted(set(image.users.values()) | set(image.kept.values())))
        log(f"keeping {image.state} image {image.name} ({image.id}): used by {who}")
        return
    log(f"deleting unpublished image {image.name} ({image.id})")
    s.delete(image)


def cmd_discard(s):
    name, gen, tag = env("NAME"), env("GEN"), env("STACK_TAG")
    for image in s.list_family(env("IMAGE_NAME")):
        meta = image.meta
        if (meta.get("final_name") == name and meta.get("gen") == gen
                and meta.get("build_stack") == tag):
            discard_unpublished(s, image)
    return {}


def cmd_discard_image(s):
    """IMAGE_ID: deletes that image unless it is complete (a rejected or stale pending image)."""
    image = s.get(env("IMAGE_ID"))
    if image is not None:
        discard_unpublished(s, image)
    return {}


def cmd_fail(s):
    image_id = env("IMAGE_ID")
    s.set_meta(image_id, {"state": "failed"})
    return {"id": image_id}


COMMANDS = {"probe": cmd_probe, "source": cmd_source, "pending": cmd_pending,
            "creation-args": cmd_creation_args, "publish": cmd_publish,
            "record": cmd_record, "release": cmd_release, "discard": cmd_discard,
            "discard-image": cmd_discard_image,
            "fail": cmd_fail}


def main(argv):
    if len(argv) != 2 or argv[1] not in COMMANDS:
        sys.stderr.write(f"usage: imagestore.py {'|'.join(COMMANDS)}\n")
        return 2
    try:
        store = load_adapter(env("STORE"), json.loads(os.environ.get("STORE_CONFIG") or "{}"))
        result = COMMANDS[argv[1]](store)
    except StoreError as e:
        sys.stderr.write(f"imagestore: {e}\n")
        return 1
    if result is not None:
        print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
