"""HTTP load benchmark for AquaLab (issue 2): `.venv/bin/python bench/run.py`.

Starts a throwaway embedded PostgreSQL and the real `aqualab serve` (waitress, SQL
storage, production argon2 settings) on a free loopback port, then drives it with
wrk (installed with apt-get when missing) at several connection counts:

    GET  /api/v1/health/live   baseline: no auth, no database
    GET  /api/v1/auth/me       JWT + session/user lookups
    POST /api/v1/labs          audited write (unique names; chain sealed in background)
    POST /api/v1/auth/login    argon2id verify + session insert

It also times JWT verification and argon2 hashing in-process, prints the machine,
and rewrites the section of docs/performance.md between the bench markers.
The server and the database are always stopped and removed (try/finally).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.postgres_server import EmbeddedPostgres, free_port  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH_DIR / "request.lua"
DOC = ROOT / "docs" / "performance.md"
START_MARK = "<!-- bench:start -->"
END_MARK = "<!-- bench:end -->"
HOST = "127.0.0.1"
API = "/api/v1"
ADMIN_EMAIL = "bench-admin@example.org"
MAX_TOTAL_SECONDS = 360

# Server settings the parent environment must not leak into the benchmarked server.
_SCRUB = (
    "DATABASE_URL",
    "JWT_SECRET",
    "AQUALAB_ENV",
    "AQUALAB_STORAGE",
    "AQUALAB_VAR_DIR",
    "HOST",
    "PORT",
    "THREADS",
    "DB_POOL_SIZE",
    "LOG_LEVEL",
    "PASSWORD_HASH_MEMORY_KIB",
    "PASSWORD_HASH_TIME_COST",
    "RATE_LIMIT_LOGIN",
    "RATE_LIMIT_REGISTER",
    "RATE_LIMIT_FORGOT",
    "RATE_LIMIT_API",
    "LOCKOUT_ATTEMPTS",
    "SMTP_URL",
    "METRICS_TOKEN",
)


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    method: str
    path: str
    expect: int
    auth: bool = False
    body: str = ""
    unique: bool = False


@dataclass
class Result:
    scenario: Scenario
    connections: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    statuses: dict[str, int] = field(default_factory=dict)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU ms per request, by process

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    pg: EmbeddedPostgres

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# --- tools ----------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("bench: wrk is missing and we are not root; run `apt-get install -y wrk`")
    print("bench: installing wrk with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    found = shutil.which("wrk")
    if not found:
        sys.exit("bench: apt-get installed wrk but it is not on PATH")
    return found


def command_output(args: list[str]) -> str:
    try:
        result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0] if lines else ""


def machine_info(wrk: str, pg: EmbeddedPostgres) -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    os_name = platform.platform()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    commit = command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = command_output(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked=no"])
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "os": f"{os_name}, kernel {platform.release()}",
        "python": platform.python_version(),
        "postgres": command_output([str(pg.bin_dir / "postgres"), "--version"]),
        "wrk": command_output([wrk, "-v"]).split(" Copyright")[0],
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
    }


# --- CPU accounting (where the two vCPUs go) ----------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()  # fields from 3 (state) on; comm may hold spaces


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        fields = _proc_stat(pid)
        if fields:  # utime and stime are fields 14 and 15
            total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


def _postgres_pids(pg: EmbeddedPostgres) -> list[int]:
    try:
        postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _proc_stat(int(entry.name))
            if fields and int(fields[1]) == postmaster:
                pids.append(int(entry.name))
    return pids


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (user+nice+system+irq+softirq)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / _TICKS


def machine_busy_fraction(seconds: float = 2.0) -> float:
    """Share of all CPUs busy over a short idle window (someone else's load = noise)."""
    before = _machine_busy_seconds()
    time.sleep(seconds)
    return (_machine_busy_seconds() - before) / (seconds * (os.cpu_count() or 1))


def cpu_snapshot(server: Server) -> dict[str, float]:
    """Cumulative CPU seconds of the server, PostgreSQL, our finished children (wrk) and
    the whole machine ("busy"); "other" = busy minus ours shows a noisy neighbour."""
    children = os.times()
    return {
        "app": _cpu_seconds([server.process.pid]),
        "pg": _cpu_seconds(_postgres_pids(server.pg)),
        "wrk": children.children_user + children.children_system,
        "busy": _machine_busy_seconds(),
    }


# --- HTTP helpers ---------------------------------------------------------------------


def http(
    method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def wait_ready(server: Server, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            code = server.process.returncode
            raise RuntimeError(f"server exited with {code}:\n{server.log_tail()}")
        with contextlib.suppress(OSError):
            status, _ = http("GET", server.base_url + f"{API}/health/ready")
            if status == 200:
                return
        time.sleep(0.25)
    raise RuntimeError(f"server not ready after {timeout:.0f}s:\n{server.log_tail()}")


def wait_idle(server: Server, timeout: float = 45.0) -> float:
    """Wait until queued work (e.g. logins left behind by wrk) has drained; return seconds."""
    started = time.monotonic()
    fast = 0
    while time.monotonic() - started < timeout and fast < 3:
        t0 = time.perf_counter()
        with contextlib.suppress(OSError):
            http("GET", server.base_url + f"{API}/health/live")
        fast = fast + 1 if time.perf_counter() - t0 < 0.05 else 0
        time.sleep(0.1)
    return time.monotonic() - started


# --- server lifecycle -----------------------------------------------------------------


def aqualab_command() -> list[str]:
    script = Path(sys.executable).parent / "aqualab"
    return [str(script)] if script.exists() else [sys.executable, "-m", "entrypoints.cli.main"]


def start_server(
    workdir: Path,
    pg: EmbeddedPostgres,
    jwt_secret: str,
    threads: int,
    admin_password: str,
    *,
    extra_env: dict[str, str] | None = None,
) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k.upper() not in _SCRUB}
    env.update(
        {
            "DATABASE_URL": pg.url,
            "JWT_SECRET": jwt_secret,
            "AQUALAB_ENV": "production",
            "AQUALAB_VAR_DIR": str(workdir / "var"),
            # Production password hashing (the defaults, stated so the run is explicit).
            "PASSWORD_HASH_MEMORY_KIB": "65536",
            "PASSWORD_HASH_TIME_COST": "3",
            # Every request comes from one IP and one user: lift the limits.
            "RATE_LIMIT_LOGIN": "10000000/minute",
            "RATE_LIMIT_API": "10000000/minute",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),  # e.g. bench/suite.py: the app's own argon2 defaults
        }
    )
    log_path = workdir / "server.log"
    args = [
        *aqualab_command(),
        "serve",
        "--storage",
        "sql",
        "--host",
        HOST,
        "--port",
        str(port),
        "--threads",
        str(threads),
        "--admin-email",
        ADMIN_EMAIL,
        "--admin-password",
        admin_password,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(process, f"http://{HOST}:{port}", log_path, pg)
    wait_ready(server)
    return server


def stop_server(server: Server) -> None:
    if server.process.poll() is not None:
        return
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


# --- wrk --------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/sec, the --latency distribution, error lines and the Lua done() line."""
    parsed: dict[str, Any] = {"non_2xx": 0, "socket_errors": 0, "percentiles": {}}
    if match := re.search(r"Requests/sec:\s+([\d.]+)", output):
        parsed["rps"] = float(match.group(1))
    for pct, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", output, re.M):
        parsed["percentiles"][int(pct)] = _ms(value)
    if match := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        parsed["non_2xx"] = int(match.group(1))
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        parsed["socket_errors"] = sum(int(g) for g in match.groups())
    if match := re.search(r"^BENCH_RESULT (\{.*\})$", output, re.M):
        parsed["lua"] = json.loads(match.group(1))
    return parsed


def run_wrk(
    wrk: str,
    server: Server,
    scenario: Scenario,
    *,
    connections: int,
    duration: int,
    timeout: int,
    token: str,
    run_id: str,
) -> Result:
    env = {
        **os.environ,
        "BENCH_METHOD": scenario.method,
        "BENCH_TOKEN": token if scenario.auth else "",
        "BENCH_BODY": scenario.body,
        "BENCH_UNIQUE": f"bench-{run_id}-c{connections}" if scenario.unique else "",
        "BENCH_REASON": "benchmark" if scenario.unique else "",
    }
    return measure_wrk(
        wrk,
        LUA_SCRIPT,
        server.base_url + scenario.path,
        scenario,
        env=env,
        connections=connections,
        duration=duration,
        timeout=timeout,
        snapshot=lambda: cpu_snapshot(server),
    )


def measure_wrk(
    wrk: str,
    script: Path,
    url: str,
    scenario: Scenario,
    *,
    env: dict[str, str],
    connections: int,
    duration: int,
    timeout: int,
    snapshot: Callable[[], dict[str, float]],
) -> Result:
    """One wrk run with a BENCH_RESULT-printing Lua script (bench/wrk_report.lua): its
    latencies, statuses and the CPU per request of the server, PostgreSQL, wrk and the
    rest of the machine (`snapshot` reads the counters before and after)."""
    args = [
        wrk,
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{duration}s",
        f"--timeout={timeout}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    before = snapshot()
    completed = subprocess.run(
        args, capture_output=True, text=True, env=env, timeout=duration + timeout + 60, check=False
    )
    if completed.returncode != 0 or "Requests/sec" not in completed.stdout:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    after = snapshot()
    parsed = parse_wrk(completed.stdout)
    lua = parsed.get("lua", {})
    done = max(1, int(lua.get("requests", 0)))
    cpu_ms = {name: (after[name] - before[name]) * 1000 / done for name in before}
    cpu_ms["other"] = max(0.0, cpu_ms.pop("busy") - cpu_ms["app"] - cpu_ms["pg"] - cpu_ms["wrk"])
    statuses = {str(k): int(v) for k, v in sorted(lua.get("statuses", {}).items())}
    unexpected = sum(n for status, n in statuses.items() if status != str(scenario.expect))
    pct = parsed["percentiles"]
    return Result(
        scenario=scenario,
        connections=connections,
        rps=parsed.get("rps", 0.0),
        p50_ms=pct.get(50, lua.get("p50_us", 0) / 1000),
        p95_ms=lua.get("p95_us", 0) / 1000,
        p99_ms=pct.get(99, lua.get("p99_us", 0) / 1000),
        max_ms=lua.get("max_us", 0) / 1000,
        requests=int(lua.get("requests", 0)),
        # wrk's own counter only sees >= 400; the Lua status table also catches 1xx/3xx.
        non_2xx=max(parsed["non_2xx"], unexpected),
        socket_errors=parsed["socket_errors"],
        statuses=statuses,
        cpu_ms=cpu_ms,
    )


# --- in-process micro-benchmarks -------------------------------------------------------


def time_jwt(secret: str, token: str, calls: int = 10_000) -> float:
    """Microseconds per JwtTokenService.verify_access call (best of 3 rounds)."""
    from adapters.tokens import JwtTokenService

    service = JwtTokenService(secret)
    service.verify_access(token)
    rounds = timeit.repeat(lambda: service.verify_access(token), number=calls, repeat=3)
    return min(rounds) / calls * 1e6


def time_argon2(rounds: int = 5) -> tuple[float, float]:
    """Median milliseconds to hash and to verify with the production argon2id settings."""
    from adapters.passwords import PasslibPasswordHasher

    hasher = PasslibPasswordHasher(memory_kib=65536, time_cost=3)
    password = "correct horse battery staple"
    stored = hasher.hash(password)
    hashes = timeit.repeat(lambda: hasher.hash(password), number=1, repeat=rounds)
    verifies = timeit.repeat(lambda: hasher.verify(password, stored), number=1, repeat=rounds)
    return statistics.median(hashes) * 1e3, statistics.median(verifies) * 1e3


# --- report ---------------------------------------------------------------------------


def _fmt_ms(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def _fmt_cpu(r: Result) -> str:
    return " / ".join(f"{r.cpu_ms.get(k, 0.0):.2f}" for k in ("app", "pg", "wrk", "other"))


def render_section(
    *,
    command: str,
    machine: dict[str, str],
    results: list[Result],
    jwt_us: float | None,
    argon2_ms: tuple[float, float] | None,
    audit: dict[str, Any] | None,
    settings: dict[str, str],
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"_Generated by `bench/run.py` on {when}; rerun to refresh this section._",
        "",
        f"Command: `{command}`",
        "",
        "| Machine | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in machine.items()),
        "",
        "Server: " + ", ".join(f"{k} {v}" for k, v in settings.items()) + ".",
        "",
        "| Endpoint | Conns | Req/s | p50 ms | p95 ms | p99 ms | Max ms | Requests | Errors "
        "| CPU ms/req app / PG / wrk / other |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        detail = ""
        if r.errors:
            bad = {s: n for s, n in r.statuses.items() if s != str(r.scenario.expect)}
            parts = [f"{s}: {n}" for s, n in bad.items()]
            if r.socket_errors:
                parts.append(f"socket: {r.socket_errors}")
            detail = f" ({', '.join(parts)})"
        lines.append(
            f"| `{r.scenario.label}` | {r.connections} | {r.rps:,.1f} | {_fmt_ms(r.p50_ms)} | "
            f"{_fmt_ms(r.p95_ms)} | {_fmt_ms(r.p99_ms)} | {_fmt_ms(r.max_ms)} | "
            f"{r.requests:,} | {r.errors}{detail} | {_fmt_cpu(r)} |"
        )
    lines.append("")
    if jwt_us is not None:
        lines.append(
            f"- JWT verification in-process (`JwtTokenService.verify_access`, HS256, "
            f"best of 3 rounds of 10,000 calls): **{jwt_us:.1f} µs/call** ({jwt_us / 1000:.4f} ms)."
        )
    if argon2_ms is not None:
        lines.append(
            f"- argon2id in-process (64 MiB, t=3, p=4; median of 5): hash "
            f"**{argon2_ms[0]:.0f} ms**, verify **{argon2_ms[1]:.0f} ms**."
        )
    if audit is not None:
        lines.append(
            f"- Audit chain after the write runs: `GET /audit-logs/verify` → ok={audit['ok']}, "
            f"{audit['checked']:,} entries checked in {audit['seconds']:.1f} s."
        )
    return "\n".join(lines)


def replace_doc_section(
    start: str, end: str, section: str, heading: str, *, doc: Path = DOC, title: str = "Performance"
) -> None:
    """Put `section` between the `start`/`end` markers of `doc` (docs/performance.md), or
    append it under `heading` when the markers are not there yet (every bench owns one
    section); a missing `doc` starts with `title`."""
    block = f"{start}\n{section}\n{end}"
    text = doc.read_text() if doc.exists() else f"# {title}\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + f"\n\n## {heading}\n\n{block}\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)


def write_doc(section: str) -> None:
    replace_doc_section(START_MARK, END_MARK, section, "Latest run")


def print_results(results: list[Result]) -> None:
    columns = ("conns", "req/s", "p50 ms", "p95 ms", "p99 ms")
    print(f"\n{'endpoint':22} {columns[0]:>5}" + "".join(f" {c:>8}" for c in columns[1:]), "errors")
    for r in results:
        print(
            f"{r.scenario.label:22} {r.connections:>5} {r.rps:>8.1f} {r.p50_ms:>8.1f} "
            f"{r.p95_ms:>8.1f} {r.p99_ms:>8.1f} {r.errors} {r.statuses}"
        )


# --- main -----------------------------------------------------------------------------


def scenarios(admin_password: str) -> list[Scenario]:
    login_body = json.dumps({"email": ADMIN_EMAIL, "password": admin_password})
    return [
        Scenario("live", "GET /health/live", "GET", f"{API}/health/live", 200),
        Scenario("me", "GET /auth/me", "GET", f"{API}/auth/me", 200, auth=True),
        Scenario("write", "POST /labs (audited)", "POST", f"{API}/labs", 201, True, unique=True),
        Scenario("login", "POST /auth/login", "POST", f"{API}/auth/login", 200, body=login_body),
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run (15)")
    parser.add_argument("--connections", default="10,100", help="comma-separated (10,100)")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (8)")
    parser.add_argument("--timeout", type=int, default=30, help="wrk request timeout, s (30)")
    parser.add_argument(
        "--only", default="live,me,write,login", help="scenarios: live,me,write,login (all)"
    )
    parser.add_argument("--quick", action="store_true", help="3 s runs, a smoke check")
    parser.add_argument(
        "--no-doc", action="store_true", help="print only; leave docs/performance.md alone"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = 3
    args.connection_list = [int(c) for c in args.connections.split(",") if c.strip()]
    args.scenario_keys = [s.strip() for s in args.only.split(",") if s.strip()]
    if any(c < 1 for c in args.connection_list) or args.duration < 1:
        parser.error("--duration and --connections must be positive")
    if unknown := set(args.scenario_keys) - {"live", "me", "write", "login"}:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    budget = len(args.connection_list) * len(args.scenario_keys) * (args.duration + 5) + 60
    if budget > MAX_TOTAL_SECONDS:
        parser.error(f"that plan needs ~{budget}s; keep the whole bench under 6 minutes")
    return args


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    def _raise(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    extra = sys.argv[1:] if argv is None else argv
    command = ".venv/bin/python bench/run.py" + "".join(f" {a}" for a in extra)
    started = time.monotonic()
    wrk = ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="aqualab-bench-"))
    workdir.chmod(0o755)  # the postgres user must reach its data directory inside
    pg = EmbeddedPostgres(workdir / "pg")
    server: Server | None = None
    jwt_secret = secrets.token_urlsafe(48)
    admin_password = f"Bench-{secrets.token_urlsafe(12)}-7q"  # policy: a digit, a letter
    run_id = datetime.now(UTC).strftime("%H%M%S")
    with terminate_on_sigterm():
        try:
            print("bench: starting embedded PostgreSQL ...", flush=True)
            pg.start()
            machine = machine_info(wrk, pg)
            for name, value in machine.items():
                print(f"  {name:9} {value}")
            busy = machine_busy_fraction()
            machine["CPU busy before start"] = f"{busy:.0%}"
            if busy > 0.2:
                print(f"bench: WARNING the machine is {busy:.0%} busy; numbers will be noisier")
            print(f"bench: starting aqualab serve --threads {args.threads} ...", flush=True)
            server = start_server(workdir, pg, jwt_secret, args.threads, admin_password)
            status, body = http(
                "POST",
                server.base_url + f"{API}/auth/login",
                {"email": ADMIN_EMAIL, "password": admin_password},
            )
            if status != 200:
                raise RuntimeError(f"admin login failed: {status} {body}")
            token = body["tokens"]["access_token"]

            # Warm-up: connections in the pool, code paths imported.
            warm_up = scenarios(admin_password)[1]
            run_wrk(
                wrk,
                server,
                warm_up,
                connections=10,
                duration=2,
                timeout=args.timeout,
                token=token,
                run_id="warm",
            )
            results: list[Result] = []
            plan = [s for s in scenarios(admin_password) if s.key in args.scenario_keys]
            for scenario in plan:
                for connections in args.connection_list:
                    print(f"bench: {scenario.label} at {connections} connections ...", flush=True)
                    result = run_wrk(
                        wrk,
                        server,
                        scenario,
                        connections=connections,
                        duration=args.duration,
                        timeout=args.timeout,
                        token=token,
                        run_id=run_id,
                    )
                    results.append(result)
                    print(
                        f"  {result.rps:.1f} req/s, p50 {result.p50_ms:.1f} ms, "
                        f"p95 {result.p95_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
                        f"errors {result.errors} {result.statuses}, "
                        f"CPU ms/req app/PG/wrk/other {_fmt_cpu(result)}",
                        flush=True,
                    )
                    drained = wait_idle(server)
                    if drained > 1:
                        print(f"  (server drained queued work for {drained:.1f} s)")

            audit = None
            if "write" in args.scenario_keys:
                t0 = time.perf_counter()
                status, report = http(
                    "GET", server.base_url + f"{API}/audit-logs/verify", token=token
                )
                if status == 200 and isinstance(report, dict):
                    audit = {**report, "seconds": time.perf_counter() - t0}
                    print(f"bench: audit chain verify: {audit}")
                else:
                    print(f"bench: audit verify answered {status}: {report}")
            print("bench: in-process JWT verification and argon2 ...", flush=True)
            jwt_us = time_jwt(jwt_secret, token)
            argon2_ms = time_argon2()
        finally:
            if server is not None:
                stop_server(server)
                if server.process.returncode not in (0, None):
                    print(f"bench: server exited {server.process.returncode}:\n{server.log_tail()}")
            pg.destroy()
            shutil.rmtree(workdir, ignore_errors=True)

    print_results(results)
    print(
        f"JWT verify: {jwt_us:.1f} us/call; argon2 hash {argon2_ms[0]:.0f} ms, "
        f"verify {argon2_ms[1]:.0f} ms"
    )
    section = render_section(
        command=command,
        machine=machine,
        results=results,
        jwt_us=jwt_us,
        argon2_ms=argon2_ms,
        audit=audit,
        settings={
            "waitress threads": str(args.threads),
            "DB pool": str(args.threads + 2),
            "wrk": f"-t2, {args.duration} s per run, --timeout {args.timeout}s",
            "LOG_LEVEL": "WARNING",
            "argon2id": "64 MiB / t=3 / p=4",
            "PostgreSQL": "fsync on (embedded default)",
        },
    )
    if not args.no_doc:
        write_doc(section)
        print(f"bench: wrote {DOC.relative_to(ROOT)}")
    print(f"bench: done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
