"""``chartsift sandbox check`` and ``chartsift sandbox exec``: the sandbox from the shell.

``check`` shows what the probe found, rule by rule, so an operator sees why a machine is not at
``full``; ``exec`` runs one command through ``Sandbox.run``, the very code path of the agent's tools,
so what works here works there. The main CLI wires this in with ``add_commands(sub)`` and dispatches
``args.command == "sandbox"`` to ``handle``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.errors import ChartsiftError, UsageError
from pipeline.sandbox.core import INPUT_ROOT, OUTPUT_ROOT
from pipeline.sandbox.model import Limits, SandboxError, SandboxLevel
from pipeline.sandbox.probe import open_sandbox, probe

_DEFAULTS = Limits()


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``sandbox check`` and ``sandbox exec`` to the main CLI's subparsers."""
    sandbox = subparsers.add_parser(
        "sandbox", help="check or use the OS sandbox of the agent's tool calls",
        description="The OS sandbox in which the agent's tool calls run: no secrets, no network, only "
        "the mounted inputs (read-only) and one output folder.",
    )  # fmt: skip
    actions = sandbox.add_subparsers(dest="sandbox_action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="probe the isolation level, rule by rule (exit 0 only at full)",
        description="Run bubblewrap and a self-test inside it; print the level reached and, per rule, "
        "what was tried and what happened. Exit status 0 only at level full.",
    )  # fmt: skip
    check.set_defaults(sandbox_handler=_cmd_check)
    run = actions.add_parser(
        "exec", help="run one command in the sandbox",
        description=f"Run CMD with DIR read-only at {INPUT_ROOT} and OUT writable at {OUTPUT_ROOT} (the "
        "working directory), stdin closed, and exit with its status (124 on timeout). "
        "Put -- before CMD when it has options.",
    )  # fmt: skip
    run.add_argument("--input", type=Path, metavar="DIR", help=f"folder mounted read-only at {INPUT_ROOT}")
    run.add_argument("--output", type=Path, required=True, metavar="OUT", help="folder mounted writable (created if missing)")
    run.add_argument("--timeout", type=float, default=_DEFAULTS.timeout_s, metavar="S",
                     help="wall-clock seconds (default %(default)s)")  # fmt: skip
    run.add_argument("--memory-mb", type=int, default=_DEFAULTS.memory_mb, metavar="M",
                     help="address space per process, MiB (default %(default)s)")  # fmt: skip
    run.add_argument("--max-procs", type=int, default=_DEFAULTS.max_procs, metavar="N",
                     help="processes of the sandbox uid (default %(default)s)")  # fmt: skip
    run.add_argument(
        "--accept", choices=[level.value for level in SandboxLevel], default=SandboxLevel.full.value,
        help="lowest isolation level accepted (default %(default)s; none means NO isolation)",
    )  # fmt: skip
    run.add_argument("argv", nargs="+", metavar="CMD", help="command and arguments")
    run.set_defaults(sandbox_handler=_cmd_exec)


def handle(args: argparse.Namespace) -> int:
    """Runs the chosen sandbox action; returns the exit status."""
    return args.sandbox_handler(args)


def _cmd_check(args: argparse.Namespace) -> int:
    report = probe()
    print(f"sandbox level: {report.level.value}")
    width = max(len(check.rule) for check in report.checks)
    for check in report.checks:
        print(f"  {'ok' if check.holds else 'FAIL':<4}  {check.rule:<{width}}  {check.detail}")
    return 0 if report.level is SandboxLevel.full else 1


def _cmd_exec(args: argparse.Namespace) -> int:
    try:
        limits = Limits(timeout_s=args.timeout, memory_mb=args.memory_mb, max_procs=args.max_procs)
    except SandboxError as exc:
        raise UsageError(str(exc)) from None
    sandbox = open_sandbox(SandboxLevel(args.accept))
    if sandbox.level is not SandboxLevel.full:
        print(f"chartsift: sandbox level {sandbox.level.value}: the command is NOT isolated", file=sys.stderr)
    inputs = {".": args.input} if args.input else {}
    result = sandbox.run(args.argv, inputs, args.output, limits)
    sys.stdout.buffer.write(result.stdout)
    sys.stdout.flush()
    sys.stderr.buffer.write(result.stderr)
    if result.timed_out:
        print(f"chartsift: timed out after {args.timeout:g} s", file=sys.stderr)
    sys.stderr.flush()
    return result.exit_code


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.sandbox.cli sandbox check``: the same commands before the main CLI wires them."""
    parser = argparse.ArgumentParser(prog="chartsift")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return handle(args)
    except ChartsiftError as exc:
        print(f"chartsift: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1


if __name__ == "__main__":
    sys.exit(main())
