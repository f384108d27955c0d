/**
 * Starts the engine model's host steps for the test process (spawner.ts): one request per stdin
 * line {id, command, cwd, env, stdin}; answers {id, pid} once the step runs and
 * {id, code, signal, stdout, stderr} when it ends. Each step is `sh -c <command>` in a process
 * group of its own, exactly as the test process started it before. Test utility, never shipped.
 */
"use strict";
const { Buffer } = require("node:buffer");
const { spawn } = require("node:child_process");
const readline = require("node:readline");

const answer = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`);

function run({ id, command, cwd, env, stdin }) {
  let child;
  try {
    child = spawn("sh", ["-c", command], {
      cwd,
      env,
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
  } catch (e) {
    answer({ id, code: 127, signal: null, stdout: "", stderr: `${e.message}\n` });
    return;
  }
  const stdout = [];
  const stderr = [];
  child.stdout.on("data", (d) => stdout.push(d));
  child.stderr.on("data", (d) => stderr.push(d));
  child.stdin.on("error", () => undefined);
  child.stdin.end(stdin);
  child.on("error", (e) => stderr.push(Buffer.from(`${e.message}\n`)));
  child.on("close", (code, signal) =>
    answer({
      id,
      code,
      signal,
      stdout: Buffer.concat(stdout).toString(),
      stderr: Buffer.concat(stderr).toString(),
    }),
  );
}

readline.createInterface({ input: process.stdin }).on("line", (line) => run(JSON.parse(line)));
