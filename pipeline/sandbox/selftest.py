"""The probe's self-test. Runs INSIDE the sandbox under /usr/bin/python3 (``python3 -c SOURCE SPEC``),
tries each escape the sandbox must stop, and prints one JSON object ``{rule: [holds, detail]}``.

It reports only errno names, counts, and the NAMES of environment variables it could see, never a
value, so the report can be printed safely. Standard library only; the host never imports it.
"""

import ctypes
import errno
import json
import os
import resource
import signal
import socket
import sys
import time

_libc = ctypes.CDLL(None, use_errno=True)
_PR_GET_PDEATHSIG = 2
_PTRACE_ATTACH = 16
_CLONE_NEWUSER = 0x10000000


def attempt(action):
    """'ok' if ``action()`` succeeded, else the errno name it failed with."""
    try:
        action()
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return "ok"


def libc_attempt(result):
    return "ok" if result == 0 else errno.errorcode.get(ctypes.get_errno(), "?")


def touch(path, mode="wb"):
    with open(path, mode):
        pass


def check_network(spec):
    names = [name for _, name in socket.if_nameindex()]

    def connect():
        with socket.create_connection(("127.0.0.1", spec["port"]), timeout=2):
            pass

    outcome = attempt(connect)
    holds = names == ["lo"] and outcome in ("ECONNREFUSED", "ENETUNREACH")
    return holds, f"interfaces {names}; connect to the host's 127.0.0.1:{spec['port']} -> {outcome}"


def check_environment(spec):
    seen = set(os.environ)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as handle:
                    seen.update(item.split(b"=", 1)[0].decode(errors="replace") for item in handle.read().split(b"\0") if item)
            except OSError:
                continue
    extra = sorted(seen - set(spec["allowed_env"]))
    return not extra, f"variable names in os.environ and every /proc/*/environ: {sorted(seen)}"


def check_host_invisible(spec):
    top = sorted(set(os.listdir("/")) - set(spec["root_entries"]))
    etc = sorted(set(os.listdir("/etc")) - set(spec["etc_entries"]))
    seen = [path for path in spec["hidden"] if attempt(lambda path=path: os.stat(path)) != "ENOENT"]
    detail = f"/ holds {sorted(os.listdir('/'))}; unexpected in /: {top}, in /etc: {etc}; "
    detail += f"{len(spec['hidden'])} host paths (/root, the repo, the caller's cwd...) visible: {seen}"
    return not (top or etc or seen), detail


def check_input_read_only(spec):
    existing = attempt(lambda: touch("/workspace/input/probe.txt", "ab"))
    created = attempt(lambda: touch("/workspace/input/new.txt"))
    return existing == created == "EROFS", f"append to a mode-0666 input -> {existing}; create in /workspace/input -> {created}"


def check_output_writable(spec):
    def write():
        with open("/workspace/output/probe.txt", "w") as handle:
            handle.write("written inside\n")

    outcome = attempt(write)
    return outcome == "ok", f"write /workspace/output/probe.txt -> {outcome}"


def check_rest_read_only(spec):
    outcomes = {path: attempt(lambda path=path: touch(path)) for path in ("/x", "/usr/x", "/etc/x", "/workspace/x", "/dev/x")}
    return set(outcomes.values()) == {"EROFS"}, f"create {outcomes}"


def check_proc_sys(spec):
    outcome = attempt(lambda: touch("/proc/sys/kernel/core_pattern"))  # O_TRUNC: the mount is checked first
    return outcome == "EROFS", f"open /proc/sys/kernel/core_pattern for writing -> {outcome}"


def check_limits(spec):
    got = {name: list(resource.getrlimit(getattr(resource, name))) for name in spec["rlimits"]}
    tmp = os.statvfs("/tmp")
    tmp_mb = tmp.f_blocks * tmp.f_frsize >> 20
    return got == spec["rlimits"] and tmp_mb == spec["tmp_mb"], f"rlimits {got}; /tmp tmpfs of {tmp_mb} MiB"


def check_forks(spec):
    cap, children, failure = spec["max_procs"], [], "nothing"
    try:
        for _ in range(4 * cap):
            pid = os.fork()
            if pid == 0:
                signal.pause()
                os._exit(0)
            children.append(pid)
    except OSError as exc:
        failure = errno.errorcode.get(exc.errno, str(exc.errno))
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    holds = failure == "EAGAIN" and len(children) < cap
    return holds, f"{len(children)} forks, then {failure} (RLIMIT_NPROC {cap}, {4 * cap} tried)"


def check_host_processes(spec):
    pid = spec["host_pid"]
    signalled = attempt(lambda: os.kill(pid, 0))
    traced = libc_attempt(_libc.ptrace(_PTRACE_ATTACH, pid, None, None))
    listed = os.path.exists(f"/proc/{pid}")
    holds = signalled == "ESRCH" and traced == "ESRCH" and not listed
    return holds, f"kill(host pid {pid}, 0) -> {signalled}; ptrace(ATTACH) -> {traced}; /proc/{pid} exists: {listed}"


def check_privileges(spec):
    with open("/proc/self/status") as handle:
        status = dict(line.split(":", 1) for line in handle.read().splitlines() if ":" in line)
    caps = {name: int(status[name], 16) for name in ("CapPrm", "CapEff", "CapBnd", "CapAmb")}
    ids = os.getresuid() + os.getresgid()
    holds = not any(caps.values()) and 0 not in ids and status["NoNewPrivs"].strip() == "1"
    return holds, f"uid/gid inside {ids}; capabilities {caps}; no_new_privs {status['NoNewPrivs'].strip()}"


def check_dies_with_parent(spec):
    value = ctypes.c_int()
    _libc.prctl(_PR_GET_PDEATHSIG, ctypes.byref(value))
    holds = value.value == signal.SIGKILL and os.getpid() == 1
    return holds, f"parent-death signal {value.value}; pid {os.getpid()} of its own pid namespace (all die with it)"


def check_no_userns(spec):
    outcome = libc_attempt(_libc.unshare(_CLONE_NEWUSER))
    return outcome != "ok", f"unshare(CLONE_NEWUSER) -> {outcome}"


def leave_survivor():
    """Double-forks a session leader that closes its stdio and sleeps: the host checks it is gone."""
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            for fd in (0, 1, 2):
                os.close(fd)
            time.sleep(60)
        os._exit(0)
    os.wait()


CHECKS = {
    "no-network": check_network,
    "empty-environment": check_environment,
    "host-invisible": check_host_invisible,
    "input-read-only": check_input_read_only,
    "output-writable": check_output_writable,
    "rest-read-only": check_rest_read_only,
    "proc-sys-read-only": check_proc_sys,
    "limits-set": check_limits,
    "forks-capped": check_forks,
    "host-processes-unreachable": check_host_processes,
    "unprivileged": check_privileges,
    "dies-with-parent": check_dies_with_parent,
    "no-new-user-namespaces": check_no_userns,  # last: a success would change this process's namespace
}


def main(spec):
    results = {}
    for rule, check in CHECKS.items():
        try:
            results[rule] = check(spec)
        except Exception as exc:  # a crashing check is a failed rule, not a failed probe
            results[rule] = (False, f"check crashed: {type(exc).__name__}: {exc}")
    leave_survivor()
    print(json.dumps(results))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
