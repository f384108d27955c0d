#!/usr/bin/env python3
"""Kept for stacks made by earlier versions of dse-image, whose state stores steps whose delete is
`python3 components/lifecycle/imagestore.py release` (a record step) or `... discard` (a snapshot
step): Pulumi runs a step's STORED delete (rule C3), so this path must keep answering. It hands
the call, with its environment, to the TypeScript image store (components/store/cli.ts)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.path.join(HERE, "..", "store", "cli.ts")
TS_HOOK = os.path.join(HERE, "..", "ts-hook.cjs")

if __name__ == "__main__":
    os.execvp("node", ["node", "--require", TS_HOOK, CLI, *sys.argv[1:]])
