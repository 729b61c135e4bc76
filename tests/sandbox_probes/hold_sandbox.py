"""Test helper, run as its own process: starts a sandboxed sleeper tagged with a marker and blocks
until the test SIGKILLs this process, to show the sandbox dies with its parent.

Usage: python hold_sandbox.py OUTPUT_DIR MARKER. The sleeper creates OUTPUT_DIR/ready once it runs.
"""

import sys
from pathlib import Path

from pipeline.sandbox import SANDBOX_PYTHON, Limits, SandboxLevel, open_sandbox

if __name__ == "__main__":
    output, marker = Path(sys.argv[1]), sys.argv[2]
    code = "import time; open('ready', 'w').close(); time.sleep(60)"
    open_sandbox(SandboxLevel.full).run([SANDBOX_PYTHON, "-c", code, marker], {}, output, Limits(timeout_s=60))
