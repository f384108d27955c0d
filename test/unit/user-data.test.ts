import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  TEST_TTL_SCRIPT,
  TTL_SCRIPT,
  cloudConfig,
  ttlScriptBody,
} from "../../components/lifecycle/user-data";

const HOST = {
  privateKey:
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----\n",
  publicKey: "ssh-ed25519 AAAAhost",
};

describe("the builder's cloud-config", () => {
  it("pins the host key (rule S2) and writes a dead-man switch that runs at every boot (rule S1)", () => {
    expect(cloudConfig({ ttlMinutes: 90, hostKey: HOST })).toBe(
      [
        "#cloud-config",
        "ssh_deletekeys: true",
        "ssh_genkeytypes: []",
        "ssh_keys:",
        "  ed25519_private: |",
        "    -----BEGIN OPENSSH PRIVATE KEY-----",
        "    b3BlbnNzaC1rZXk",
        "    -----END OPENSSH PRIVATE KEY-----",
        '  ed25519_public: "ssh-ed25519 AAAAhost"',
        "write_files:",
        `  - path: ${TTL_SCRIPT}`,
        '    permissions: "0755"',
        "    content: |",
        "      #!/bin/sh",
        "      # dse-image: power this temporary machine off after its TTL, whatever happens.",
        "      systemd-run --no-block --unit=dse-builder-ttl-boot --on-active=90m /bin/systemctl poweroff || shutdown -P +90",
        "",
      ].join("\n"),
    );
  });

  it("is YAML cloud-init reads as meant: NoCloud user, cloud keys, the test's own switch", () => {
    const doc = parse(
      cloudConfig({
        ttlMinutes: 30,
        hostKey: HOST,
        user: { name: "debian", authorizedKey: "ssh-ed25519 AAAAbuild\n" },
        ttlScript: TEST_TTL_SCRIPT,
      }),
    ) as Record<string, unknown>;
    expect(doc.users).toEqual([
      {
        name: "debian",
        sudo: "ALL=(ALL) NOPASSWD:ALL",
        shell: "/bin/bash",
        lock_passwd: true,
        ssh_authorized_keys: ["ssh-ed25519 AAAAbuild"],
      },
    ]);
    expect(doc.ssh_keys).toEqual({
      ed25519_private: HOST.privateKey,
      ed25519_public: HOST.publicKey,
    });
    expect(doc.write_files).toEqual([
      { path: TEST_TTL_SCRIPT, permissions: "0755", content: ttlScriptBody(30) },
    ]);
    const cloud = parse(
      cloudConfig({ ttlMinutes: 30, authorizedKeys: ["ssh-ed25519 AAAAtest"] }),
    ) as Record<string, unknown>;
    expect(cloud.ssh_authorized_keys).toEqual(["ssh-ed25519 AAAAtest"]);
    expect(cloud.users).toBeUndefined();
  });

  it("writes a switch that is valid sh", () => {
    execFileSync("sh", ["-n", "-c", ttlScriptBody(120)]);
  });
});
