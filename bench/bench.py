#!/usr/bin/env python3
"""Benchmark berth side by side with podman and the raw OCI runtime.

All three run on the same busybox rootfs, interleaved round by round, so
that the load of a shared machine hits them alike. Each engine gets its own
roots in a fresh directory under /var/tmp, which is removed at the end.

Usage (as root, from the repository, after `cargo build --release`):

    bench/bench.py [--smoke] [--rounds N] [--output-dir DIR]

`hack/bench.sh` builds berth and runs this. The result goes to
`DIR/latest.json` and `DIR/latest.md` (default `bench/results`), and only
when every measurement finished. `--smoke` runs few rounds on small counts
and writes nothing unless `--output-dir` is given.
"""

import argparse
import concurrent.futures
import ctypes
import datetime
import json
import os
import platform
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGE_BERTH = "bench-busybox"
IMAGE_PODMAN = "localhost/bench-busybox"

# A container whose init exits as soon as SIGTERM arrives. The shell is pid 1
# and so ignores signals without a handler, hence the trap. `wait` returns
# on a trapped signal where a foreground `sleep` would not.
SIGTERM_EXITING = ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
SLEEPING = ["sleep", "1000"]

# The host's hard limit on open files (20000 on the benchmark host) is below
# podman's default container ulimits (1048576), so podman's runtime fails
# with "setrlimit: Operation not permitted" without these.
PODMAN_ULIMITS = ["nofile=1024:1024", "nproc=4096:4096"]

# Targets as ratios of berth to the raw runtime, and absolute bounds.
TARGET_RUN_RM_RATIO = 2.0
TARGET_STOP_RATIO = 3.0
TARGET_STOP_DETECTION_MS = 5.0
TARGET_PS_RATIO = 2.0
TARGET_EXEC_RATIO = 2.0
TARGET_PEAK_RSS_MB = 12.0

ENGINES = ("berth", "podman", "raw")


class BenchError(Exception):
    """A failure that makes the whole run invalid."""


class Settings:
    """Round counts and container counts of one run."""

    def __init__(self, smoke, rounds):
        self.smoke = smoke
        self.rounds = rounds or (2 if smoke else 10)
        self.lifecycle_rounds = 1 if smoke else 3
        self.lifecycle_count = 4 if smoke else 50
        self.ps_created = 10 if smoke else 200
        self.ps_running = 2 if smoke else 20


# --- host checks -----------------------------------------------------------


def host_problems(berth):
    """List why this host cannot run the benchmark; empty when it can."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the benchmark must run as root")
    for program in ("podman", "crun", "runc", "conmon"):
        if shutil.which(program) is None:
            problems.append(f"{program} is missing: run hack/prepare-host.sh")
    if not Path("/usr/bin/time").exists():
        problems.append("/usr/bin/time is missing: run hack/prepare-host.sh")
    if not Path("/usr/bin/busybox").exists():
        problems.append("/usr/bin/busybox is missing: run hack/prepare-host.sh")
    if not berth.exists():
        problems.append(f"{berth} is missing: run `cargo build --release`")
    # On a hybrid cgroup host crun fails while a controller is attached to
    # the cgroup2 mount, so hack/prepare-host.sh moves them to v1 mounts.
    unified = Path("/sys/fs/cgroup/unified/cgroup.controllers")
    if unified.exists() and unified.read_text().strip():
        problems.append(
            "controllers are still attached to /sys/fs/cgroup/unified: "
            "run hack/prepare-host.sh"
        )
    return problems


# --- running commands ------------------------------------------------------


class Runner:
    """Spawns commands with stdout discarded and stderr kept for errors."""

    def __init__(self, workdir):
        self.workdir = workdir

    @property
    def stderr_path(self):
        # One file per thread, because the parallel lifecycle runs two
        # command chains at once.
        return self.workdir / f"stderr-{threading.get_ident()}.log"

    def timed(self, argv):
        """Run argv to completion and return the seconds it took."""
        with open(self.stderr_path, "w+b") as stderr, open(os.devnull, "r+b") as null:
            start = time.perf_counter()
            pid = os.posix_spawnp(
                argv[0],
                argv,
                os.environ,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, null.fileno(), 0),
                    (os.POSIX_SPAWN_DUP2, null.fileno(), 1),
                    (os.POSIX_SPAWN_DUP2, stderr.fileno(), 2),
                ],
            )
            _, status, _ = os.wait4(pid, 0)
            elapsed = time.perf_counter() - start
            self._check(argv, status, stderr)
        return elapsed

    def peak_rss_kib(self, argv):
        """Run argv under GNU time and return its peak resident set in KiB.

        The child's own rusage would not do: a child spawned by this Python
        process starts with Python's memory (about 17 MiB), and the kernel
        keeps that high-water mark across exec.
        """
        report = self.workdir / "peak-rss"
        self.timed(["/usr/bin/time", "--format", "%M", "--output", str(report), *argv])
        return int(report.read_text().split()[-1])

    def timed_stop(self, argv, container_pid, exit_file=None):
        """Run a stop command and watch the container's init process.

        Returns the seconds from the start of the command until it returned,
        until the container's init exited (seen through a pidfd), and until
        the monitor's exit file appeared (None without `exit_file`). The raw
        runtime's kill returns before the container exits; an engine's stop
        returns after it.
        """
        container = os.pidfd_open(container_pid)
        watch = ExitFileWatch(exit_file) if exit_file else None
        try:
            with open(self.stderr_path, "w+b") as stderr, open(os.devnull, "r+b") as null:
                start = time.perf_counter()
                pid = os.posix_spawnp(
                    argv[0],
                    argv,
                    os.environ,
                    file_actions=[
                        (os.POSIX_SPAWN_DUP2, null.fileno(), 0),
                        (os.POSIX_SPAWN_DUP2, null.fileno(), 1),
                        (os.POSIX_SPAWN_DUP2, stderr.fileno(), 2),
                    ],
                )
                returned_at, exited_at, written_at = self._wait_all(pid, container, watch)
                _, status, _ = os.wait4(pid, 0)
                self._check(argv, status, stderr)
        finally:
            os.close(container)
            if watch:
                watch.close()
        if exited_at is None:
            raise BenchError(f"the container did not exit within 10 s of `{' '.join(argv)}`")
        return (returned_at - start, exited_at - start,
                None if written_at is None else written_at - start)

    @staticmethod
    def _wait_all(command_pid, container, watch):
        """Return when the command ended, the container exited and the exit
        file appeared; a time is None for what did not happen within 10 s
        of the command's end."""
        command = os.pidfd_open(command_pid)
        poller = select.poll()
        for fd in (command, container) + ((watch.fd,) if watch else ()):
            poller.register(fd, select.POLLIN)
        times = {}
        expected = 3 if watch else 2
        try:
            while len(times) < expected:
                if command in times and time.perf_counter() - times[command] > 10:
                    break
                for fd, _ in poller.poll(1000):
                    now = time.perf_counter()
                    if watch and fd == watch.fd:
                        if not watch.seen():
                            continue
                    times[fd] = now
                    poller.unregister(fd)
        finally:
            os.close(command)
        return times.get(command), times.get(container), times.get(watch.fd if watch else None)

    @staticmethod
    def _check(argv, status, stderr):
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            stderr.seek(0)
            message = stderr.read().decode(errors="replace").strip()
            raise BenchError(f"`{' '.join(argv)}` failed with exit code {code}: {message}")

    @staticmethod
    def output(argv):
        """Run an untimed setup command and return its stdout.

        Not for commands that leave a container behind with the caller's
        stdio (the raw runtime's create and run --detach): the pipes would
        never reach end of file.
        """
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            raise BenchError(
                f"`{' '.join(argv)}` failed with exit code {result.returncode}: "
                f"{result.stderr.strip()}"
            )
        return result.stdout.strip()


class ExitFileWatch:
    """An inotify watch for the monitor's exit file of one container.

    conmon writes the file under a temporary name and renames it into
    place, so the event is IN_MOVED_TO (IN_CLOSE_WRITE covers a direct
    write).
    """

    IN_CLOSE_WRITE = 0x8
    IN_MOVED_TO = 0x80
    IN_NONBLOCK = 0o4000
    IN_CLOEXEC = 0o2000000
    EVENT_HEADER = struct.Struct("iIII")

    def __init__(self, path):
        libc = ctypes.CDLL(None, use_errno=True)
        self.name = os.fsencode(path.name)
        self.fd = libc.inotify_init1(self.IN_NONBLOCK | self.IN_CLOEXEC)
        if self.fd < 0:
            raise BenchError(f"inotify_init1 failed: {os.strerror(ctypes.get_errno())}")
        mask = self.IN_CLOSE_WRITE | self.IN_MOVED_TO
        if libc.inotify_add_watch(self.fd, os.fsencode(path.parent), mask) < 0:
            error = os.strerror(ctypes.get_errno())
            os.close(self.fd)
            raise BenchError(f"watching {path.parent} with inotify failed: {error}")

    def seen(self):
        """Read the pending events; True when one names the exit file."""
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return False
        offset = 0
        while offset < len(data):
            _, _, _, length = self.EVENT_HEADER.unpack_from(data, offset)
            offset += self.EVENT_HEADER.size
            name = data[offset:offset + length].rstrip(b"\0")
            offset += length
            if name == self.name:
                return True
        return False

    def close(self):
        os.close(self.fd)


# --- the three engines -------------------------------------------------------


class Workspace:
    """The benchmark's own roots, image and bundles under one directory."""

    def __init__(self, workdir, berth):
        self.dir = workdir
        self.berth_binary = berth
        self.rootfs_tar = workdir / "busybox.tar"
        self.rootfs = workdir / "rootfs"
        self.containers_conf = workdir / "containers.conf"
        self.bundles = {}

    def berth(self, *args, runtime="crun"):
        return [
            str(self.berth_binary),
            "--root", str(self.dir / "berth-root"),
            "--runroot", str(self.dir / "berth-runroot"),
            "--runtime", runtime,
            *args,
        ]

    def podman(self, *args):
        return [
            "podman",
            "--root", str(self.dir / "podman-root"),
            "--runroot", str(self.dir / "podman-runroot"),
            "--storage-driver", "overlay",
            "--cgroup-manager", "cgroupfs",
            *args,
        ]

    def raw(self, runtime, *args):
        return [runtime, "--root", str(self.dir / f"{runtime}-root"), *args]

    def prepare(self):
        subprocess.run(
            [str(REPO / "hack/make-busybox-rootfs.sh"), str(self.rootfs_tar)], check=True
        )
        self._write_containers_conf()
        os.environ["CONTAINERS_CONF"] = str(self.containers_conf)
        Runner.output(self.berth("import", str(self.rootfs_tar), IMAGE_BERTH))
        Runner.output(self.podman("import", str(self.rootfs_tar), IMAGE_PODMAN))
        self.rootfs.mkdir()
        subprocess.run(["tar", "-xf", str(self.rootfs_tar), "-C", str(self.rootfs)], check=True)
        for name, args in (("true", ["true"]), ("sleep", SLEEPING), ("sigterm", SIGTERM_EXITING)):
            self.bundles[name] = self._make_bundle(name, args)

    def _write_containers_conf(self):
        # podman's own lock files, per-boot directory and no events log, so
        # that nothing is shared with other podman users of this host.
        ulimits = ", ".join(f'"{u}"' for u in PODMAN_ULIMITS)
        self.containers_conf.write_text(
            "[containers]\n"
            f"default_ulimits = [{ulimits}]\n"
            "[engine]\n"
            'lock_type = "file"\n'
            'events_logger = "none"\n'
            f'tmp_dir = "{self.dir / "podman-tmp"}"\n'
            'cgroup_manager = "cgroupfs"\n'
        )

    def _make_bundle(self, name, args):
        """Make an OCI bundle from `crun spec` that runs args on the shared rootfs."""
        bundle = self.dir / f"bundle-{name}"
        bundle.mkdir()
        subprocess.run(["crun", "spec"], cwd=bundle, check=True)
        config_path = bundle / "config.json"
        config = json.loads(config_path.read_text())
        config["root"]["path"] = str(self.rootfs)
        config["process"]["args"] = args
        config["process"]["terminal"] = False
        config_path.write_text(json.dumps(config, indent=2))
        return bundle

    def cleanup(self):
        """Remove every container, unmount and delete the work directory."""
        steps = [
            self.berth("rm", "--all", "--force"),
            self.podman("rm", "--all", "--force", "--time", "0"),
        ]
        for argv in steps:
            subprocess.run(argv, capture_output=True, check=False)
        for runtime in ("crun", "runc"):
            listing = subprocess.run(
                self.raw(runtime, "list", "-q"), capture_output=True, text=True, check=False
            )
            for container_id in listing.stdout.split():
                subprocess.run(
                    self.raw(runtime, "delete", "--force", container_id),
                    capture_output=True,
                    check=False,
                )
        for mount in mounts_under(self.dir):
            subprocess.run(["umount", "--lazy", mount], capture_output=True, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def mounts_under(directory):
    """Mount points under directory, deepest first."""
    prefix = str(directory) + "/"
    points = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = line.split()[4]
            if point.startswith(prefix) or point == str(directory):
                points.append(point)
    return sorted(points, key=len, reverse=True)


# --- measurements ------------------------------------------------------------


class Results:
    """Samples per measurement and engine, in round order."""

    def __init__(self):
        self.samples = {}
        self.notes = {}

    def add(self, measurement, engine, value):
        self.samples.setdefault(measurement, {}).setdefault(engine, []).append(value)


def engine_order(round_index):
    """Rotate the order of the engines so no engine always runs first."""
    shift = round_index % len(ENGINES)
    return ENGINES[shift:] + ENGINES[:shift]


class Benchmark:
    def __init__(self, workspace, runner, settings):
        self.ws = workspace
        self.run = runner
        self.settings = settings
        self.results = Results()
        self.serial = 0

    def unique(self, prefix):
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def preflight(self):
        """Check that each engine runs a container at all."""
        self.run.timed(self.ws.berth("run", "--rm", "--network", "none", IMAGE_BERTH, "true"))
        self.run.timed(self.ws.podman("run", "--rm", "--network", "none", IMAGE_PODMAN, "true"))
        self.run.timed(self.ws.raw("crun", "run", "--bundle", str(self.ws.bundles["true"]),
                                   self.unique("preflight")))

    def run_rm(self):
        for runtime in ("crun", "runc"):
            measurement = f"run --rm ({runtime})"
            for round_index in range(self.settings.rounds):
                for engine in engine_order(round_index):
                    seconds = self.run.timed(self.run_rm_argv(engine, runtime))
                    self.results.add(measurement, engine, seconds)
        for round_index in range(self.settings.rounds):
            for engine in engine_order(round_index):
                rss_kib = self.run.peak_rss_kib(self.run_rm_argv(engine, "crun"))
                self.results.add("peak RSS of run --rm (MiB)", engine, rss_kib / 1024)

    def run_rm_argv(self, engine, runtime):
        if engine == "berth":
            return self.ws.berth("run", "--rm", "--network", "none", IMAGE_BERTH, "true", runtime=runtime)
        if engine == "podman":
            return self.ws.podman("run", "--rm", "--runtime", runtime, "--network", "none",
                                  IMAGE_PODMAN, "true")
        return self.ws.raw(runtime, "run", "--bundle", str(self.ws.bundles["true"]),
                           self.unique("run"))

    def lifecycle(self):
        count = self.settings.lifecycle_count
        for parallel in (1, 2):
            measurement = f"create+start+stop+rm, {'sequential' if parallel == 1 else '2 parallel'}"
            for round_index in range(self.settings.lifecycle_rounds):
                for engine in engine_order(round_index):
                    names = [self.unique("life") for _ in range(count)]
                    start = time.perf_counter()
                    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
                        chunks = [names[i::parallel] for i in range(parallel)]
                        for future in [pool.submit(self.lifecycle_chain, engine, c) for c in chunks]:
                            future.result()
                    per_container = (time.perf_counter() - start) / count
                    self.results.add(measurement, engine, per_container)

    def lifecycle_chain(self, engine, names):
        for name in names:
            for argv in self.lifecycle_argvs(engine, name):
                self.run.timed(argv)

    def lifecycle_argvs(self, engine, name):
        if engine == "berth":
            b = self.ws.berth
            return [b("create", "--name", name, "--network", "none", IMAGE_BERTH, *SLEEPING), b("start", name),
                    b("stop", "-t", "0", name), b("rm", name)]
        if engine == "podman":
            p = self.ws.podman
            return [p("create", "--name", name, "--network", "none", IMAGE_PODMAN, *SLEEPING),
                    p("start", name), p("stop", "-t", "0", name), p("rm", name)]
        r = self.ws.raw
        return [r("crun", "create", "--bundle", str(self.ws.bundles["sleep"]), name),
                r("crun", "start", name), r("crun", "kill", name, "KILL"),
                r("crun", "delete", "--force", name)]

    def stop(self):
        for round_index in range(self.settings.rounds):
            for engine in engine_order(round_index):
                name = self.unique("stop")
                pid, exit_file, argv, remove = self.start_sigterm_exiting(engine, name)
                returned, exited, written = self.run.timed_stop(argv, pid, exit_file)
                self.results.add("stop -t 10 (init exits on SIGTERM)", engine,
                                 max(returned, exited))
                if engine != "raw":
                    # An engine's stop that returns before the container
                    # exited would be a bug, shown here as a negative figure.
                    self.results.add("stop: return after the init exited", engine,
                                     returned - exited)
                    self.results.add("stop: return after conmon's exit file", engine,
                                     returned - written)
                    self.results.add("stop: conmon's exit file after the init exited", engine,
                                     written - exited)
                Runner.output(remove)

    def start_sigterm_exiting(self, engine, name):
        """Start a SIGTERM-exiting container.

        Returns its init pid, conmon's exit file (None for the raw runtime),
        the stop command and the remove command.
        """
        if engine == "berth":
            b = self.ws.berth
            container_id = Runner.output(b("run", "-d", "--name", name, "--network", "none", IMAGE_BERTH,
                                           *SIGTERM_EXITING))
            pid = Runner.output(b("inspect", "--format", "{{.State.Pid}}", name))
            exit_file = self.ws.dir / "berth-runroot" / "exits" / container_id
            return int(pid), exit_file, b("stop", "-t", "10", name), b("rm", name)
        if engine == "podman":
            p = self.ws.podman
            container_id = Runner.output(p("run", "-d", "--name", name, "--network", "none",
                                           IMAGE_PODMAN, *SIGTERM_EXITING))
            pid = Runner.output(p("inspect", "--format", "{{.State.Pid}}", name))
            exit_file = self.ws.dir / "podman-tmp" / "exits" / container_id
            return int(pid), exit_file, p("stop", "-t", "10", name), p("rm", name)
        r = self.ws.raw
        self.run.timed(r("crun", "run", "--detach", "--bundle", str(self.ws.bundles["sigterm"]),
                         name))
        state = json.loads(Runner.output(r("crun", "state", name)))
        return (state["pid"], None, r("crun", "kill", name, "TERM"),
                r("crun", "delete", "--force", name))

    def populate(self):
        """Make the created and running containers that ps, inspect and exec see."""
        s = self.settings
        b, p, r = self.ws.berth, self.ws.podman, self.ws.raw
        for i in range(s.ps_created):
            Runner.output(b("create", "--name", f"created-{i}", "--network", "none", IMAGE_BERTH, "true"))
            Runner.output(p("create", "--name", f"created-{i}", "--network", "none",
                            IMAGE_PODMAN, "true"))
            self.run.timed(r("crun", "create", "--bundle", str(self.ws.bundles["sleep"]),
                             f"created-{i}"))
        for i in range(s.ps_running):
            Runner.output(b("run", "-d", "--name", f"running-{i}", "--network", "none", IMAGE_BERTH, *SLEEPING))
            Runner.output(p("run", "-d", "--name", f"running-{i}", "--network", "none",
                            IMAGE_PODMAN, *SLEEPING))
            self.run.timed(r("crun", "run", "--detach", "--bundle",
                             str(self.ws.bundles["sleep"]), f"running-{i}"))

    def listing(self):
        b, p, r = self.ws.berth, self.ws.podman, self.ws.raw
        target = "running-0"
        commands = {
            "ps -a": (b("ps", "-a"), p("ps", "-a"), r("crun", "list")),
            "ps -a --format json": (b("ps", "-a", "--format", "json"),
                                    p("ps", "-a", "--format", "json"),
                                    r("crun", "list", "--format", "json")),
            "inspect": (b("inspect", target), p("inspect", target), r("crun", "state", target)),
        }
        if berth_has_exec(self.ws):
            commands["exec CTR true"] = (b("exec", target, "true"), p("exec", target, "true"),
                                         r("crun", "exec", target, "true"))
        else:
            self.results.notes["exec CTR true"] = "not available: `berth exec --help` failed"
        for measurement, argvs in commands.items():
            by_engine = dict(zip(ENGINES, argvs))
            for round_index in range(self.settings.rounds):
                for engine in engine_order(round_index):
                    seconds = self.run.timed(by_engine[engine])
                    self.results.add(measurement, engine, seconds)

    def monitor_rss(self):
        """conmon's resident memory per running container, in MiB."""
        for engine, inspect in (("berth", self.ws.berth), ("podman", self.ws.podman)):
            for i in range(self.settings.ps_running):
                pid = int(Runner.output(inspect("inspect", "--format", "{{.State.ConmonPid}}",
                                                f"running-{i}")))
                self.results.add("conmon RSS per running container (MiB)", engine,
                                 resident_kib(pid) / 1024)


def berth_has_exec(workspace):
    probe = subprocess.run(workspace.berth("exec", "--help"), capture_output=True, check=False)
    return probe.returncode == 0


def resident_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for process {pid}")


# --- summaries ----------------------------------------------------------------

# Measurements whose samples are sizes in MiB rather than seconds.
SIZE_MEASUREMENTS = ("peak RSS of run --rm (MiB)", "conmon RSS per running container (MiB)")


def summarize(results):
    """Medians, ranges and per-round ratios of every measurement."""
    summary = {}
    for measurement, by_engine in results.samples.items():
        entry = {"unit": "MiB" if measurement in SIZE_MEASUREMENTS else "ms", "engines": {}}
        scale = 1 if measurement in SIZE_MEASUREMENTS else 1000
        for engine, values in by_engine.items():
            scaled = [v * scale for v in values]
            entry["engines"][engine] = {
                "median": statistics.median(scaled),
                "min": min(scaled),
                "max": max(scaled),
                "samples": scaled,
            }
        berth = by_engine.get("berth", [])
        for other in ("raw", "podman"):
            values = by_engine.get(other)
            if not values or not berth:
                continue
            ratios = [b / o for b, o in zip(berth, values) if o > 0]
            if ratios:
                entry[f"berth/{other}"] = {
                    "median": statistics.median(ratios),
                    "min": min(ratios),
                    "max": max(ratios),
                    "per_round": ratios,
                }
        summary[measurement] = entry
    for measurement, note in results.notes.items():
        summary[measurement] = {"note": note}
    return summary


def targets(summary):
    """Check each target of the project against its figure."""
    def ratio(measurement, other="raw"):
        return summary.get(measurement, {}).get(f"berth/{other}", {}).get("median")

    def median(measurement, engine="berth"):
        return summary.get(measurement, {}).get("engines", {}).get(engine, {}).get("median")

    checks = [
        ("run --rm (crun) <= 2.0x raw crun run", ratio("run --rm (crun)"),
         TARGET_RUN_RM_RATIO, "x"),
        ("stop -t 10 <= 3x raw kill + exit", ratio("stop -t 10 (init exits on SIGTERM)"),
         TARGET_STOP_RATIO, "x"),
        ("stop returns <= 5 ms after conmon's exit file",
         median("stop: return after conmon's exit file"),
         TARGET_STOP_DETECTION_MS, "ms"),
        ("ps -a <= 2x crun list", ratio("ps -a"), TARGET_PS_RATIO, "x"),
        ("exec CTR true <= 2.0x raw crun exec", ratio("exec CTR true"), TARGET_EXEC_RATIO, "x"),
        ("berth peak RSS of run --rm <= 12 MiB", median("peak RSS of run --rm (MiB)"),
         TARGET_PEAK_RSS_MB, "MiB"),
    ]
    return [
        {"target": name, "value": value, "bound": bound, "unit": unit,
         "met": None if value is None else value <= bound}
        for name, value, bound, unit in checks
    ]


def format_range(stats):
    return f"{stats['median']:.1f} ({stats['min']:.1f}–{stats['max']:.1f})"


def format_ratio(entry, key):
    stats = entry.get(key)
    if stats is None:
        return "–"
    return f"{stats['median']:.2f}x ({stats['min']:.2f}–{stats['max']:.2f})"


def markdown(report):
    meta = report["host"]
    lines = [
        f"Benchmark of {report['date']} on {meta['cpus']} CPUs, {meta['memory_gib']} GiB "
        f"RAM, kernel {meta['kernel']}; {report['settings']['rounds']} rounds "
        f"({report['settings']['lifecycle_rounds']} for create+start+stop+rm of "
        f"{report['settings']['lifecycle_count']} containers); ps over "
        f"{report['settings']['ps_created']} created and {report['settings']['ps_running']} "
        "running containers. Medians with min–max; ratios are medians of per-round ratios.",
        "",
        "| measurement | unit | berth | podman | raw runtime | berth/raw | berth/podman |",
        "|---|---|---|---|---|---|---|",
    ]
    for measurement, entry in report["measurements"].items():
        if "note" in entry:
            lines.append(f"| {measurement} | | {entry['note']} | | | | |")
            continue
        cells = [format_range(entry["engines"][e]) if e in entry["engines"] else "–"
                 for e in ENGINES]
        lines.append(
            f"| {measurement} | {entry['unit']} | {' | '.join(cells)} | "
            f"{format_ratio(entry, 'berth/raw')} | {format_ratio(entry, 'berth/podman')} |"
        )
    lines += ["", "| target | figure | met |", "|---|---|---|"]
    for target in report["targets"]:
        value = "not measured" if target["value"] is None else \
            f"{target['value']:.2f} {target['unit']}"
        met = {True: "yes", False: "no", None: "–"}[target["met"]]
        lines.append(f"| {target['target']} | {value} | {met} |")
    return "\n".join(lines) + "\n"


def host_facts():
    with open("/proc/meminfo") as meminfo:
        total_kib = int(meminfo.readline().split()[1])
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(total_kib / (1 << 20)),
        "kernel": platform.release(),
    }


def versions(workspace):
    def first_line(argv):
        return Runner.output(argv).splitlines()[0]

    return {
        "berth": first_line(workspace.berth("version")),
        "podman": first_line(["podman", "--version"]),
        "crun": first_line(["crun", "--version"]),
        "runc": first_line(["runc", "--version"]),
        "conmon": first_line(["conmon", "--version"]),
    }


def write_atomically(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


# --- main ----------------------------------------------------------------------


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="few rounds on small counts; writes no result unless --output-dir")
    parser.add_argument("--rounds", type=int, help="rounds of each quick measurement")
    parser.add_argument("--output-dir", type=Path,
                        help="where latest.json and latest.md go (default bench/results)")
    parser.add_argument("--berth", type=Path, default=REPO / "target/release/berth",
                        help="the berth binary to measure")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory under /var/tmp for inspection")
    return parser.parse_args()


def main():
    args = parse_args()
    settings = Settings(args.smoke, args.rounds)
    output_dir = args.output_dir or (None if args.smoke else REPO / "bench/results")

    problems = host_problems(args.berth)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print("error: the benchmark did not run; no result was written", file=sys.stderr)
        return 2

    workspace = Workspace(Path(tempfile.mkdtemp(prefix="berth-bench.", dir="/var/tmp")),
                          args.berth.resolve())
    started = time.monotonic()
    try:
        workspace.prepare()
        bench = Benchmark(workspace, Runner(workspace.dir), settings)
        steps = [
            ("checking that each engine runs a container", bench.preflight),
            ("run --rm", bench.run_rm),
            ("create+start+stop+rm", bench.lifecycle),
            ("stop of a SIGTERM-exiting container", bench.stop),
            (f"making {settings.ps_created} created and {settings.ps_running} running "
             "containers per engine", bench.populate),
            ("ps, inspect, exec", bench.listing),
            ("conmon memory", bench.monitor_rss),
        ]
        for label, step in steps:
            print(f"bench: {label}", file=sys.stderr, flush=True)
            step()
        report = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "complete": True,
            "smoke": settings.smoke,
            "duration_seconds": round(time.monotonic() - started),
            "host": host_facts(),
            "versions": versions(workspace),
            "settings": vars(settings),
            "measurements": summarize(bench.results),
        }
        report["targets"] = targets(report["measurements"])
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        print("error: the benchmark stopped; no result was written", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"bench: work directory kept at {workspace.dir}", file=sys.stderr)
        else:
            workspace.cleanup()

    table = markdown(report)
    print(table)
    if output_dir is not None:
        write_atomically(output_dir / "latest.json", json.dumps(report, indent=2) + "\n")
        write_atomically(output_dir / "latest.md", table)
        print(f"bench: wrote {output_dir / 'latest.json'} and {output_dir / 'latest.md'}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
