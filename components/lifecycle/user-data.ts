/**
 * The cloud-config every builder and test instance boots with (OpenStack and AWS user data, the
 * QEMU NoCloud seed): the pinned SSH host key and the dead-man switch.
 */

/** Where the dead-man switch lives on a builder; `cloud-init clean` removes it before the snapshot. */
export const TTL_SCRIPT = "/var/lib/cloud/scripts/per-boot/dse-builder-ttl.sh";

/** The boot test instance's own switch: a different file, so the test can tell them apart. */
export const TEST_TTL_SCRIPT = "/var/lib/cloud/scripts/per-boot/dse-boot-test-ttl.sh";

export interface CloudConfigArgs {
  /** Power off this many minutes after every boot. */
  ttlMinutes: number;
  /** The host key pair the caller pins (OpenSSH private PEM and public line), ed25519. */
  hostKey?: { privateKey: string; publicKey: string };
  /**
   * NoCloud only (a cloud injects its key pair itself): the login user to create with
   * passwordless sudo and this authorized key.
   */
  user?: { name: string; authorizedKey: string };
  /** Clouds: keys added to the image's default user (besides any key pair the cloud injects). */
  authorizedKeys?: string[];
  /** Where the switch is written (test instances use their own file so a check can tell). */
  ttlScript?: string;
}

/** A YAML double-quoted scalar: JSON strings are valid YAML. */
const q = (s: string) => JSON.stringify(s);

function block(indent: string, text: string): string[] {
  return text
    .trimEnd()
    .split("\n")
    .map((line) => `${indent}${line}`);
}

/**
 * The dead-man switch as a per-boot script: cloud-init runs `scripts/per-boot` at EVERY boot
 * (rule S1: `runcmd` runs once per instance and a transient timer is gone after a reboot), so a
 * builder that a resumed build starts again is switched off after the TTL too. Armed without
 * blocking the boot (`--no-block`): arming it from `bootcmd` hung the boot in the VM tests.
 */
export function ttlScriptBody(ttlMinutes: number): string {
  return [
    "#!/bin/sh",
    "# dse-image: power this temporary machine off after its TTL, whatever happens.",
    `systemd-run --no-block --unit=dse-builder-ttl-boot --on-active=${ttlMinutes}m /bin/systemctl poweroff || shutdown -P +${ttlMinutes}`,
    "",
  ].join("\n");
}

export function cloudConfig(a: CloudConfigArgs): string {
  const lines = ["#cloud-config"];
  if (a.user) {
    lines.push(
      "users:",
      `  - name: ${q(a.user.name)}`,
      '    sudo: "ALL=(ALL) NOPASSWD:ALL"',
      "    shell: /bin/bash",
      "    lock_passwd: true",
      "    ssh_authorized_keys:",
      `      - ${q(a.user.authorizedKey.trim())}`,
      "ssh_pwauth: false",
      "disable_root: true",
    );
  }
  if (a.authorizedKeys?.length) {
    lines.push("ssh_authorized_keys:", ...a.authorizedKeys.map((k) => `  - ${q(k.trim())}`));
  }
  if (a.hostKey) {
    // Rule S2: cloud-init installs the host key chosen here, so it is known before the first
    // connection and every remote step pins it. No other key types are generated.
    lines.push(
      "ssh_deletekeys: true",
      "ssh_genkeytypes: []",
      "ssh_keys:",
      "  ed25519_private: |",
      ...block("    ", a.hostKey.privateKey),
      `  ed25519_public: ${q(a.hostKey.publicKey.trim())}`,
    );
  }
  lines.push(
    "write_files:",
    `  - path: ${a.ttlScript ?? TTL_SCRIPT}`,
    '    permissions: "0755"',
    "    content: |",
    ...block("      ", ttlScriptBody(a.ttlMinutes)),
    "",
  );
  return lines.join("\n");
}
