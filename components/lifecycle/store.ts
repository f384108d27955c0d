import { execFile } from "node:child_process";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { projectRelative } from "../project-files";
import { shellQuote } from "../shell";
import type { ProbeResult } from "./plan";

/** The shared image store tool (components/lifecycle/imagestore.py). */
export const IMAGESTORE = path.join(__dirname, "imagestore.py");

export type StoreCommand =
  "probe" | "pending" | "publish" | "record" | "release" | "discard" | "fail";

/** The exact shell command of a store step, as command.local runs it (rule P3). */
export function storeCommand(command: StoreCommand): string {
  return `python3 ${shellQuote(projectRelative(IMAGESTORE))} ${command}`;
}

/** Which store, and its settings (`STORE`, `STORE_CONFIG`). */
export interface StoreRef {
  store: "openstack" | "aws" | "qemu" | "virtualbox";
  config: Record<string, unknown>;
  /** Extra environment for the CLIs (e.g. AWS_PROFILE). */
  env?: Record<string, string>;
}

export function storeEnv(ref: StoreRef): Record<string, string> {
  return { STORE: ref.store, STORE_CONFIG: JSON.stringify(ref.config), ...ref.env };
}

/** What the program asks the store before it declares anything. */
export type Probe = (
  ref: StoreRef,
  query: { imageName: string; stackTag: string },
) => Promise<ProbeResult>;

/**
 * Runs `imagestore.py probe` with the operator's credentials (rule C4: the same environment the
 * lifecycle's commands get). Asynchronous on purpose: the program must not block while it waits.
 */
export const probeStore: Probe = (ref, query) =>
  new Promise((resolve, reject) => {
    execFile(
      "python3",
      [IMAGESTORE, "probe"],
      {
        env: {
          ...process.env,
          ...storeEnv(ref),
          IMAGE_NAME: query.imageName,
          STACK_TAG: query.stackTag,
        },
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error) {
          const why = stderr.trim().split("\n").pop() ?? error.message;
          reject(new pulumi.RunError(`${ref.store}: could not look up existing images: ${why}`));
          return;
        }
        resolve(JSON.parse(stdout) as ProbeResult);
      },
    );
  });
