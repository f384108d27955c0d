/**
 * The engine model's EC2 for `@aws-sdk/client-ec2`: every command an EC2Client sends goes, as the
 * `aws ec2` CLI call it stands for, to the same fake world the CLI shims reach (cli-server.ts,
 * world/aws.ts), so the typed AWS store and the scripts see one EC2 with one set of faults. The
 * CLI prints the service's own response shapes (PascalCase, as the SDK returns them), and its
 * errors name EC2's code, which becomes the error's `name`, as the SDK's service errors have it.
 *
 * Loaded with NODE_OPTIONS=--require in every node process of the model (the dynamic provider
 * plugin, a host step's `node --require ./components/ts-hook.cjs <file>.ts`): it patches the
 * client that the project folder's `@aws-sdk/client-ec2` resolves to. The engine's own process calls
 * `install` with the class its program imports. Test utility, never shipped.
 */
"use strict";
const { Buffer } = require("node:buffer");
const net = require("node:net");

const kebab = (name) => name.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();

/** The CLI's arguments for one SDK input: lists repeat, structures are JSON, filters shorthand. */
function argvOf(input) {
  const argv = [];
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    const flag = `--${kebab(key)}`;
    if (value === true) argv.push(flag);
    else if (value === false) argv.push(`--no-${kebab(key)}`);
    else if (value instanceof Date) argv.push(flag, value.toISOString());
    else if (key === "Filters")
      for (const f of value) argv.push(flag, `Name=${f.Name},Values=${f.Values.join(",")}`);
    else if (Array.isArray(value) && value.every((v) => typeof v === "string"))
      argv.push(flag, ...value);
    else if (typeof value === "object") argv.push(flag, JSON.stringify(value));
    else argv.push(flag, String(value));
  }
  return argv;
}

/** One call through the world's CLI server, as the `aws` shim makes it. */
function callWorld(args) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(process.env.DSE_FAKE_WORLD_PORT), "127.0.0.1");
    const chunks = [];
    socket.on("data", (d) => chunks.push(d));
    socket.on("error", reject);
    socket.on("end", () => {
      const answer = Buffer.concat(chunks);
      const text = answer.toString("utf8");
      if (text.startsWith("killed\n")) return reject(new Error("the world killed this call"));
      const first = text.indexOf("\n");
      const second = text.indexOf("\n", first + 1);
      const code = Number(text.slice(0, first));
      const errLength = Number(text.slice(first + 1, second));
      const rest = answer.subarray(Buffer.byteLength(text.slice(0, second + 1)));
      resolve({
        code,
        stderr: rest.subarray(0, errLength).toString("utf8"),
        stdout: rest.subarray(errLength).toString("utf8"),
      });
    });
    socket.write(
      ["aws", process.cwd(), String(args.length), ...args].map((x) => `${x}\0`).join(""),
    );
  });
}

/** The error the SDK would throw: EC2's code as its name. */
function serviceError(stderr) {
  const code = /\(([\w.]+)\)/.exec(stderr)?.[1] ?? /^([\w.]+)$/.exec(stderr.trim())?.[1];
  const error = new Error(stderr.trim());
  error.name = code ?? "Ec2Error";
  error.$fault = "client";
  return error;
}

/** Makes every EC2Client of this class send to the world; returns what undoes it. */
function install(EC2Client) {
  const original = EC2Client.prototype.send;
  EC2Client.prototype.send = async function send(command) {
    const region = await this.config.region();
    const operation = kebab(command.constructor.name.replace(/Command$/, ""));
    const input = { ...command.input };
    // The SDK sends RunInstances' user data base64-encoded as given; the CLI takes the text.
    if (operation === "run-instances" && input.UserData)
      input.UserData = Buffer.from(input.UserData, "base64").toString("utf8");
    const args = ["--region", region, "--output", "json", "ec2", operation, ...argvOf(input)];
    const r = await callWorld(args);
    if (r.code !== 0) throw serviceError(r.stderr);
    const out = r.stdout.trim() ? JSON.parse(r.stdout) : {};
    // The CLI decodes a console's output; EC2 (and so the SDK) returns it base64-encoded.
    if (operation === "get-console-output" && typeof out.Output === "string")
      out.Output = Buffer.from(out.Output).toString("base64");
    return { $metadata: {}, ...out };
  };
  return () => {
    EC2Client.prototype.send = original;
  };
}

/**
 * Patches the client whenever a module of this process loads `@aws-sdk/client-ec2` (CommonJS:
 * the dynamic provider plugin and tsx's require both go through Module._load), so a process that
 * never talks to EC2 never loads the SDK.
 */
function patchOnLoad() {
  const Module = require("node:module");
  const load = Module._load;
  const patched = new WeakSet();
  Module._load = function loadAndPatch(request, ...rest) {
    const loaded = load.call(this, request, ...rest);
    if (request === "@aws-sdk/client-ec2" && loaded?.EC2Client && !patched.has(loaded.EC2Client)) {
      patched.add(loaded.EC2Client);
      install(loaded.EC2Client);
    }
    return loaded;
  };
}

if (process.env.DSE_FAKE_WORLD_PORT) patchOnLoad();

module.exports = { install };
