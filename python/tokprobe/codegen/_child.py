# The sandbox child. tokprobe never imports this module: sandbox.py reads its source and runs
#     python -I -B -c <this source> <config-json>
# in a fresh subprocess (new session, cwd = a fresh temporary directory, scrubbed environment).
# stdin carries one line, a random nonce, and is then replaced by /dev/null.
#
# Steps, each best-effort and reported back in the status line's "isolation" field:
#   1. read the program (program.py in the cwd) while still privileged;
#   2. unshare network, mount and pid namespaces (as root; otherwise inside a new user
#      namespace); in the mount namespace: private tmpfs on /tmp, /var/tmp, /dev/shm, /run/lock,
#      and directories the unprivileged user could not traverse (e.g. /root holding the
#      interpreter) are replaced by a tmpfs holding read-only bind mounts of just the paths needed;
#   3. with a pid namespace: fork; the parent (outer) waits and reports the child's exit status
#      and rusage; the child is pid 1 of the namespace, so when it dies the kernel kills every
#      process it left behind; a fresh /proc is mounted;
#   4. resource limits (CPU, address space, file size, process count, no core), no new
#      privileges, switch to the unprivileged uid/gid, parent-death signal;
#   5. compile and exec the program and report the outcome as one status line on stderr:
#      "\n__TOKPROBE_SANDBOX__ <nonce> <json>\n".
import os
import sys


def _main():
    import ctypes
    import gc
    import json
    import resource
    import signal

    cfg = json.loads(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    # Die with the tool: if it is killed, nothing it started may outlive it (the pid-namespace
    # init below dies with this process, and the program with that init).
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != cfg["ppid"]:
        os._exit(71)
    nonce = sys.stdin.buffer.readline().strip().decode("ascii", "replace")
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
    status_fd = os.dup(2)
    tag = "__TOKPROBE_SANDBOX__"

    def report(obj):
        try:
            os.write(status_fd, ("\n%s %s %s\n" % (tag, nonce, json.dumps(obj))).encode())
        except OSError:
            pass

    with open(cfg["program"], "rb") as fh:
        source = fh.read()

    iso = {"net": False, "mount": False, "pid": False, "proc": False, "private_tmp": False,
           "uid": os.getuid(), "masked": [], "errors": []}
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    NEWNS, NEWUSER, NEWPID, NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
    MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
        1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
    privileged = os.geteuid() == 0
    want = cfg.get("isolate", True)

    def err(what):
        e = ctypes.get_errno()
        iso["errors"].append("%s: %s" % (what, os.strerror(e)))

    def unshare(flags, what):
        if libc.unshare(flags) == 0:
            return True
        err("unshare " + what)
        return False

    def mount(src, target, fstype, flags, data, what):
        enc = lambda s: None if s is None else s.encode()  # noqa: E731
        if libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)) == 0:
            return True
        err("mount " + what)
        return False

    outer_uid = os.getuid()
    outer_gid = os.getgid()
    if want:
        if privileged:
            if unshare(NEWNET | NEWNS | NEWPID, "net+mount+pid"):
                iso["net"] = iso["mount"] = iso["pid"] = True
            else:
                iso["net"] = unshare(NEWNET, "net")
                iso["mount"] = unshare(NEWNS, "mount")
                iso["pid"] = unshare(NEWPID, "pid")
        else:
            # Unprivileged: a user namespace (mapping us to root inside it) gives the capabilities
            # to create the others; the real uid on the host does not change.
            ok = unshare(NEWUSER | NEWNET | NEWNS | NEWPID, "user+net+mount+pid")
            if not ok and unshare(NEWUSER | NEWNET, "user+net"):
                iso["net"] = True
            if ok:
                try:
                    for name, text in (("setgroups", "deny"), ("uid_map", "0 %d 1" % outer_uid),
                                       ("gid_map", "0 %d 1" % outer_gid)):
                        with open("/proc/self/" + name, "w") as fh:
                            fh.write(text)
                    iso["net"] = iso["mount"] = iso["pid"] = True
                except OSError as exc:
                    iso["errors"].append("userns map: %s" % exc)
                    iso["net"] = True

    tmp_dir = None
    if iso["mount"] and mount(None, "/", None, MS_REC | MS_PRIVATE, None, "private /"):
        opts = "size=%d,nr_inodes=4096,mode=1777" % cfg.get("tmpfs_bytes", 32 << 20)
        for d in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock"):
            if os.path.isdir(d) and not os.path.islink(d):
                if mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, opts, d):
                    if d == "/tmp":
                        iso["private_tmp"] = True
                        tmp_dir = "/tmp"
        if privileged and cfg.get("uid") is not None:
            needed = [sys.executable, sys.prefix, sys.base_prefix, sys.exec_prefix] + cfg.get("needed", [])
            _mask_private_dirs(needed, mount, iso, MS_BIND, MS_REC, MS_REMOUNT, MS_RDONLY,
                               MS_NOSUID, MS_NODEV)
    elif iso["mount"]:
        iso["mount"] = False

    if iso["pid"]:
        # The driver (D) stays in the host pid namespace and only waits; its child (A) is pid 1
        # of the new namespace: a minimal init that reaps and reports the program's exit status
        # and rusage; A's child (B) runs the program. When A exits, the kernel kills whatever
        # the program left behind; D and A keep the tool's uid, so the program cannot signal them.
        ignore = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGQUIT)
        pid = os.fork()
        if pid:
            for sig in ignore:
                signal.signal(sig, signal.SIG_IGN)
            _, status = os.waitpid(pid, 0)
            os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: A dies with D
        if iso["mount"]:
            iso["proc"] = mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None, "/proc")
        program_pid = os.fork()
        if program_pid:
            for sig in ignore:
                signal.signal(sig, signal.SIG_IGN)
            while True:
                try:
                    wpid, status, ru = os.wait4(-1, 0)
                except ChildProcessError:
                    os._exit(70)
                if wpid == program_pid:
                    break
            info = {"role": "exit", "cpu_s": ru.ru_utime + ru.ru_stime, "maxrss_kb": ru.ru_maxrss}
            if os.WIFSIGNALED(status):
                info["signal"] = os.WTERMSIG(status)
                code = 128 + info["signal"]
            else:
                info["exit"] = code = os.WEXITSTATUS(status)
            report(info)
            os._exit(code & 0xFF)

    # Resource limits (inherited by anything the program starts).
    cpu = cfg["cpu_s"]
    limits = [(resource.RLIMIT_CPU, (cpu, cpu + 1)), (resource.RLIMIT_AS, (cfg["memory_bytes"],) * 2),
              (resource.RLIMIT_FSIZE, (cfg["fsize_bytes"],) * 2), (resource.RLIMIT_NPROC, (cfg["nproc"],) * 2),
              (resource.RLIMIT_CORE, (0, 0)), (resource.RLIMIT_NOFILE, (cfg["nofile"],) * 2)]
    for which, value in limits:
        try:
            resource.setrlimit(which, value)
        except (ValueError, OSError) as exc:
            iso["errors"].append("setrlimit %s: %s" % (which, exc))
    PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if cfg.get("uid") is not None and privileged:
        os.setgroups([])
        os.setgid(cfg["gid"])
        os.setuid(cfg["uid"])
    elif iso["mount"] and not privileged:
        # In our user namespace we hold every capability: drop them so the program cannot undo
        # the mounts (e.g. unmount the private /tmp).
        _drop_capabilities(libc, iso)
    iso["uid"] = os.getuid()
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if not iso["pid"] and os.getppid() != cfg["ppid"]:
        os._exit(71)  # the tool died while we were starting

    if tmp_dir:
        os.chdir(tmp_dir)
        os.environ["HOME"] = os.environ["TMPDIR"] = tmp_dir

    report({"role": "ready"})
    result = {"role": "result", "isolation": iso}
    try:
        code = compile(source, "program.py", "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes in the source
        result.update(kind="syntax", error_type=type(exc).__name__, message=_short(exc),
                      line=getattr(exc, "lineno", None))
        report(result)
        os._exit(1)
    lines = source.decode("utf-8", "replace").splitlines()
    del source
    kind, etype, emsg, line = "pass", None, None, None
    glb = {"__name__": "program", "__builtins__": __builtins__}
    try:
        exec(code, glb)
    except AssertionError as exc:
        kind, etype = "assertion", "AssertionError"
        emsg, line = _short(exc), _program_line(exc)
    except MemoryError:
        kind, etype = "killed", "MemoryError"
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt... all are failures
        kind, etype = "exception", type(exc).__name__
        emsg, line = _short(exc), _program_line(exc)
    glb.clear()
    del glb, code
    gc.collect()
    text = lines[line - 1].strip()[:300] if line and 0 < line <= len(lines) else None
    result.update(kind=kind, error_type=etype, message=emsg, line=line, source_line=text)
    report(result)
    os._exit(0 if kind == "pass" else 1)


def _short(exc, limit=300):
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001
        text = "<unprintable>"
    return text if len(text) <= limit else text[:limit] + "..."


def _program_line(exc):
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "program.py":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _mask_private_dirs(needed, mount, iso, MS_BIND, MS_REC, MS_REMOUNT, MS_RDONLY, MS_NOSUID, MS_NODEV):
    # ``needed`` are paths the unprivileged program must read (the interpreter's prefix, ...).
    # For each, the topmost ancestor that others cannot traverse (e.g. /root, mode 0700) is
    # covered by a tmpfs that holds read-only bind mounts of just the needed paths. The rest of
    # that directory (e.g. the rest of /root) becomes invisible to the program.
    def blocked(path):
        try:
            return not (os.stat(path).st_mode & 0o001)
        except OSError:
            return False

    plan = {}
    real = sorted({os.path.realpath(p) for p in needed if p})
    kept = []
    for p in real:  # drop paths inside another needed path (sorted: parents come first)
        if os.path.exists(p) and not any(p.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(p)
    for p in kept:
        parts = p.split("/")
        for i in range(2, len(parts) + 1):
            anc = "/".join(parts[:i]) or "/"
            if anc == p:
                break
            if blocked(anc):
                plan.setdefault(anc, []).append(p)
                break
    for top, paths in sorted(plan.items()):
        fds = {}
        for p in paths:
            try:
                fds[p] = os.open(p, os.O_PATH | getattr(os, "O_CLOEXEC", 0))
            except OSError:
                pass
        if not mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755", "mask " + top):
            continue
        iso["masked"].append(top)
        for p, fd in fds.items():
            try:
                if os.path.isdir("/proc/self/fd/%d" % fd):
                    os.makedirs(p, mode=0o755, exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(p), mode=0o755, exist_ok=True)
                    open(p, "a").close()
            except OSError as exc:
                iso["errors"].append("mask %s: %s" % (p, exc))
                continue
            if mount("/proc/self/fd/%d" % fd, p, None, MS_BIND | MS_REC, None, "bind " + p):
                mount(None, p, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None, "ro " + p)
            os.close(fd)


def _drop_capabilities(libc, iso):
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    hdr = Header(0x20080522, 0)
    data = (Data * 2)()
    if libc.capset(ctypes.byref(hdr), data) != 0:
        iso["errors"].append("capset: %s" % os.strerror(ctypes.get_errno()))


_main()
