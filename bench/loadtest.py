"""python -m bench.loadtest [--users 50] [--seconds 60] [--workers 4] [--threads 1] [--pumps 2000]

A busy clinic against gunicorn in front of PostgreSQL (``make loadtest``):

1. a database of its own (``clinic_load`` on the server DATABASE_URL names,
   default postgres://postgres@127.0.0.1:5432/), migrated and seeded with a
   synthetic clinic (bench.synthetic) and one nurse account per simulated user,
   then ANALYZEd (as autovacuum does soon after a bulk load);
2. gunicorn with DEBUG off, as in production (static files collected first);
3. each user signs in through the login form, then for ``--seconds`` loops
   over a mix of worklist pages, patient pages and refills logged through the
   real form (GET for the CSRF and submission tokens, then a valid POST);
4. the same users, for the same time, on the trivial view /healthz: the
   framework's floor, signed in (the session and user read by the middleware,
   as for every page) and then anonymously (no database at all);
5. every refill the server answered with a success is looked up in the
   database by its submission token.

Prints one table and appends it to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from bench import databases, report

PASSWORD = "load-test-password-2026"  # a throwaway database's accounts
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TOKEN = re.compile(r'name="submission_token" value="([^"]+)"')
DIGEST = re.compile(r'name="warnings_digest" value="([^"]*)"')
MIX = (("worklist", 0.5), ("patient", 0.3), ("refill", 0.2))
# The floor, the trivial view /healthz: asked by the same signed-in staff (the
# framework's own work for them: session, user, middleware) and anonymously.
SIGNED_IN, ANONYMOUS = "healthz, signed in", "healthz, anonymous"


@dataclass(frozen=True)
class RefillPlan:
    """A pump a user may refill today, and the values that keep the fill valid."""

    pump_id: int
    data: dict[str, str]


@dataclass
class Window:
    """When the timed phase ends; set by the main thread before it releases the users."""

    end: float = 0.0


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    saved_tokens: list[str] = field(default_factory=list)
    saved_ids: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float, ok: bool) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if not ok:
                self.errors[kind] += 1


def load_url() -> str:
    source = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/clinic"
    if not databases.is_postgres(source):
        raise SystemExit("the load test runs on PostgreSQL: set DATABASE_URL=postgres://...")
    os.environ["DATABASE_URL"] = source
    return databases.bench_url("clinic_load")


def seed(url: str, *, pumps: int, users: int, today: date) -> tuple[list[int], list[RefillPlan]]:
    """Migrate and fill the load database; the patient ids and the refills to log."""
    databases.recreate(url)
    databases.migrate(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password

    from bench import registry, synthetic
    from pumps.models import Pump

    registry.build(synthetic.registry(pumps, today=today), today=today)
    encoded = make_password(PASSWORD)  # hashed once: PBKDF2 is slow on purpose
    for number in range(users):
        user = registry.staff_user(f"nurse{number:03d}")
        user.password = encoded
        user.save(update_fields=["password"])
    patients = list(Pump.objects.active().order_by("pk").values_list("patient_id", flat=True))
    plans = []
    refillable = (
        Pump.objects.active()
        .filter(latest_fill__refill_date__lt=today)
        .select_related("latest_fill__drug", "model")
        .order_by("pk")
    )
    for pump in refillable:
        fill = pump.latest_fill
        assert fill is not None
        # The same drug and dose as the latest fill: no dose warning to confirm.
        values = {
            "refill_date": today.isoformat(),
            "drug": fill.drug.code,
            "concentration": str(fill.concentration),
            "concentration_unit": fill.concentration_unit,
            "daily_dose": str(fill.daily_dose),
            "dose_unit": fill.dose_unit,
            "volume_ml": str(pump.model.reservoir_ml),
            "notes": "load test",
        }
        plans.append(RefillPlan(pump.pk, values))
    from django.db import connection

    # Autovacuum analyzes the tables soon after a bulk load in production (it is
    # off on some test servers); without statistics the planner guesses, and the
    # run would measure that guess rather than the pages (as bench/worker.py).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return patients, plans


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_environment(url: str) -> dict[str, str]:
    """Production settings, except TLS: the test talks plain HTTP on localhost."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "SECRET_KEY": "load-test-" + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "SECURE_HSTS_SECONDS": "0",
        "DB_CONN_MAX_AGE": "60",
        "DJANGO_SETTINGS_MODULE": "bench.settings_loadtest",
    }


def start_server(url: str, *, workers: int, port: int, threads: int = 1) -> subprocess.Popen[bytes]:
    env = server_environment(url)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    # threads > 1: gunicorn's gthread workers (each a process with that many threads).
    threaded = [f"--threads={threads}", "--worker-class=gthread"] if threads > 1 else []
    server = subprocess.Popen(
        [
            str(gunicorn),
            "clinic.wsgi:application",
            f"--workers={workers}",
            *threaded,
            f"--bind=127.0.0.1:{port}",
            "--log-level=warning",
        ],
        cwd=databases.ROOT,
        env=env,
    )
    for _ in range(100):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").text == "ok":
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.terminate()
    raise SystemExit("gunicorn did not start")


# Signing in hashes the password (PBKDF2, slow on purpose: about 0.5 s of CPU);
# fifty at once on a busy two-core machine took longer than a page's timeout.
# The sign-ins are not measured, so they may wait as long as they need.
SIGN_IN_TIMEOUT = httpx.Timeout(60, read=600)


def sign_in(client: httpx.Client, username: str) -> None:
    form = client.get("/accounts/login/")
    match = CSRF.search(form.text)
    assert match, "no CSRF token on the login page"
    answer = client.post(
        "/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": match[1]},
        timeout=SIGN_IN_TIMEOUT,
    )
    assert answer.status_code == 302, f"sign-in of {username}: {answer.status_code}"


def log_refill(client: httpx.Client, plan: RefillPlan, tally: Tally) -> bool:
    """GET the form, POST it (and confirm any warnings); True if the refill saved."""
    url = f"/pumps/{plan.pump_id}/refill/"
    form = client.get(url)
    csrf, token = CSRF.search(form.text), TOKEN.search(form.text)
    if form.status_code != 200 or csrf is None or token is None:
        return False
    data = {**plan.data, "csrfmiddlewaretoken": csrf[1], "submission_token": token[1]}
    answer = client.post(url, data=data)
    if answer.status_code == 200 and (digest := DIGEST.search(answer.text)) and digest[1]:
        answer = client.post(url, data={**data, "confirm": "on", "warnings_digest": digest[1]})
    if answer.status_code != 302 or "/refills/" not in answer.headers.get("location", ""):
        return False
    with tally.lock:
        tally.saved_tokens.append(token[1])
        tally.saved_ids.append(int(answer.headers["location"].rstrip("/").split("/")[-2]))
    return True


def signed_in(client: httpx.Client, username: str, started: threading.Barrier) -> None:
    """Sign in, then wait for the others; a failed sign-in breaks the barrier, so the
    run stops with an error instead of every other thread waiting for ever."""
    try:
        sign_in(client, username)
    except BaseException:
        started.abort()
        raise
    started.wait()


def user_loop(
    base: str,
    username: str,
    *,
    window: Window,
    patients: list[int],
    refills: list[RefillPlan],
    tally: Tally,
    rng: random.Random,
    started: threading.Barrier,
) -> None:
    with httpx.Client(base_url=base, timeout=60) as client:
        signed_in(client, username, started)
        kinds = [kind for kind, _ in MIX]
        weights = [weight for _, weight in MIX]
        while time.monotonic() < window.end:
            kind = rng.choices(kinds, weights)[0]
            if kind == "refill" and not refills:
                kind = "worklist"
            start = time.perf_counter()
            try:
                if kind == "worklist":
                    ok = client.get("/").status_code == 200
                elif kind == "patient":
                    ok = client.get(f"/patients/{rng.choice(patients)}/").status_code == 200
                else:
                    ok = log_refill(client, refills.pop(), tally)
            except httpx.HTTPError:
                ok = False
            tally.record(kind, time.perf_counter() - start, ok)


def floor_loop(
    base: str,
    username: str | None,
    *,
    kind: str,
    window: Window,
    tally: Tally,
    started: threading.Barrier,
) -> None:
    """/healthz in a loop; signed in as ``username`` (if given), as staff would ask it."""
    with httpx.Client(base_url=base, timeout=60) as client:
        if username is not None:
            # The session cookie makes the middleware read the session and the
            # user for every request, as for every page staff open.
            signed_in(client, username, started)
        else:
            started.wait()
        while time.monotonic() < window.end:
            start = time.perf_counter()
            try:
                ok = client.get("/healthz").text == "ok"
            except httpx.HTTPError:
                ok = False
            tally.record(kind, time.perf_counter() - start, ok)


def summary_rows(tally: Tally, elapsed: float, kinds: list[str]) -> list[list[str]]:
    rows = []
    for kind in kinds:
        samples = sorted(tally.latencies.get(kind, []))
        if not samples:
            continue
        p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
        rows.append(
            [
                kind,
                f"{len(samples):,}",
                f"{len(samples) / elapsed:.1f}/s",
                f"{statistics.median(samples) * 1000:.0f} ms",
                f"{p95 * 1000:.0f} ms",
                str(tally.errors.get(kind, 0)),
            ]
        )
    return rows


def verify(tally: Tally) -> tuple[int, int]:
    """Refills the server said it saved, and how many of them the database holds."""
    from pumps.models import Refill

    found = Refill.objects.filter(submission_token__in=tally.saved_tokens).count()
    by_id = Refill.objects.filter(pk__in=tally.saved_ids).count()
    return len(tally.saved_tokens), min(found, by_id)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadtest", description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per worker (above 1: gthread workers)"
    )
    parser.add_argument("--pumps", type=int, default=2000, help="pumps in the clinic")
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args(argv)
    url = load_url()
    today = datetime.now(ZoneInfo(os.environ.get("TIME_ZONE", "America/Chicago"))).date()
    print(f"seeding {url} with {options.pumps} pumps...", file=sys.stderr, flush=True)
    patients, plans = seed(url, pumps=options.pumps, users=options.users, today=today)
    random.Random(6).shuffle(plans)
    share = len(plans) // options.users  # each user refills pumps of its own
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(url, workers=options.workers, port=port, threads=options.threads)
    mixed, floor, bare = Tally(), Tally(), Tally()
    try:
        print(
            f"{options.users} users sign in, then {options.seconds:.0f} s of mixed load",
            file=sys.stderr,
            flush=True,
        )

        def mixed_user(number: int, window: Window, started: threading.Barrier) -> None:
            user_loop(
                base,
                f"nurse{number:03d}",
                window=window,
                patients=patients,
                refills=plans[number * share : (number + 1) * share],
                tally=mixed,
                rng=random.Random(number),
                started=started,
            )

        def floor_user(number: int, window: Window, started: threading.Barrier) -> None:
            username = f"nurse{number:03d}"
            floor_loop(base, username, kind=SIGNED_IN, window=window, tally=floor, started=started)

        def bare_floor_user(number: int, window: Window, started: threading.Barrier) -> None:
            floor_loop(base, None, kind=ANONYMOUS, window=window, tally=bare, started=started)

        mixed_elapsed = timed(options.users, options.seconds, mixed_user)
        print(f"{options.seconds:.0f} s of /healthz, signed in", file=sys.stderr, flush=True)
        floor_elapsed = timed(options.users, options.seconds, floor_user)
        print(f"{options.seconds:.0f} s of /healthz, anonymous", file=sys.stderr, flush=True)
        bare_elapsed = timed(options.users, options.seconds, bare_floor_user)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    claimed, found = verify(mixed)
    header = ["requests", "count", "throughput", "median", "p95", "errors"]
    rows = summary_rows(mixed, mixed_elapsed, [kind for kind, _ in MIX])
    total = sum(len(v) for v in mixed.latencies.values())
    all_samples = sorted(s for v in mixed.latencies.values() for s in v)
    rows.append(
        [
            "all mixed",
            f"{total:,}",
            f"{total / mixed_elapsed:.1f}/s",
            f"{statistics.median(all_samples) * 1000:.0f} ms",
            f"{all_samples[int(len(all_samples) * 0.95)] * 1000:.0f} ms",
            str(sum(mixed.errors.values())),
        ]
    )
    rows += summary_rows(floor, floor_elapsed, [SIGNED_IN])
    rows += summary_rows(bare, bare_elapsed, [ANONYMOUS])
    mixed_rate = total / mixed_elapsed
    floor_rate = len(floor.latencies[SIGNED_IN]) / floor_elapsed
    bare_rate = len(bare.latencies[ANONYMOUS]) / bare_elapsed
    text = report.table(header, rows) + (
        f"\n\nRefills the server answered as saved: {claimed}; found in the database by "
        f"submission token and id: {found} ({'none lost' if claimed == found else 'LOST'}).\n"
        f"Mixed throughput / floor throughput: {mixed_rate / floor_rate:.2f} "
        f"(signed in), {mixed_rate / bare_rate:.2f} (anonymous)."
    )
    print(text)
    if not options.no_write:
        threads = f" --threads {options.threads}" if options.threads > 1 else ""
        command = (
            f"python -m bench.loadtest --users {options.users} --seconds {options.seconds:.0f} "
            f"--workers {options.workers}{threads} --pumps {options.pumps}"
        )
        kind = f"gthread workers of {options.threads} threads" if threads else "sync workers"
        title = (
            f"make loadtest: {options.users} users, {options.seconds:.0f} s, "
            f"gunicorn {options.workers} {kind}, {options.pumps:,} pumps"
        )
        report.append(report.section(title, command=command, url=url, body=text))


def timed(
    users: int, seconds: float, target: Callable[[int, Window, threading.Barrier], None]
) -> float:
    """Start ``users`` threads; once all are ready (signed in), let them run ``seconds``."""
    window = Window()
    started = threading.Barrier(users + 1)
    threads = [
        threading.Thread(target=target, args=(n, window, started), daemon=True)
        for n in range(users)
    ]
    for thread in threads:
        thread.start()
    window.end = time.monotonic() + 10**6  # until everyone is ready
    started.wait()
    begin = time.monotonic()
    window.end = begin + seconds
    for thread in threads:
        thread.join()
    return time.monotonic() - begin


if __name__ == "__main__":
    main(sys.argv[1:])
