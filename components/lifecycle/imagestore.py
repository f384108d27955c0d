#!/usr/bin/env python3
"""Kept for stacks made by earlier versions of dse-image, whose state stores steps whose delete is
`python3 components/lifecycle/imagestore.py release` (a record step) or `... discard` (a snapshot
step): Pulumi runs a step's STORED delete (rule C3), so this path must keep answering. It hands
the call, with its environment, to the TypeScript image store (components/store/cli.ts)."""

import os
import sys

CLI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "store", "cli.ts")

if __name__ == "__main__":
    os.execvp("node", ["node", "--require", "tsx/cjs", CLI, *sys.argv[1:]])
