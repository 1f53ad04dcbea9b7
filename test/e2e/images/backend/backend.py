"""HealthMate backend stand-in.

Serves the monitoring metrics contract (monitoring/metrics-contract.yml), /health,
/version (the image tag) and a few /api/v1 routes; `celery worker|beat` idles like a
worker, `celery inspect ping` answers, `alembic upgrade` succeeds. When
DATABASE_URL[_FILE] / REDIS_URL[_FILE] are set, /health also proves the
database and Redis answer with those credentials: 503 naming the failing one under
"checks", and healthmate_dependency_up{dependency} says the same to Prometheus.
"""
import json
import os
import queue
import random
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

VERSION = os.environ.get("STANDIN_VERSION", "unknown")
HEALTHY = os.environ.get("STANDIN_HEALTHY", "true") == "true"
HOSTNAME = socket.gethostname()
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def setting(name):
    """VAR, or the content of the file named by VAR_FILE."""
    if os.environ.get(name):
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if path:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    return None


class Metrics:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = {}
        self.durations = {}
        self.ingested = 0
        self.redis_errors = 0
        self.db_in_use = 0

    def observe(self, handler, method, status, seconds):
        with self.lock:
            key = (handler, method, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            hist = self.durations.setdefault((handler, method), [[0] * len(BUCKETS), 0, 0.0])
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    hist[0][i] += 1
            hist[1] += 1
            hist[2] += seconds

    def render(self):
        out = []
        with self.lock:
            out.append("# HELP healthmate_http_requests_total HTTP requests by handler, method and status.")
            out.append("# TYPE healthmate_http_requests_total counter")
            for (h, m, s), n in sorted(self.requests.items()):
                out.append(f'healthmate_http_requests_total{{handler="{h}",method="{m}",status="{s}"}} {n}')
            out.append("# HELP healthmate_http_request_duration_seconds HTTP request latency.")
            out.append("# TYPE healthmate_http_request_duration_seconds histogram")
            for (h, m), (counts, total, seconds) in sorted(self.durations.items()):
                for bound, n in zip(BUCKETS, counts):
                    out.append(f'healthmate_http_request_duration_seconds_bucket{{handler="{h}",method="{m}",le="{bound}"}} {n}')
                out.append(f'healthmate_http_request_duration_seconds_bucket{{handler="{h}",method="{m}",le="+Inf"}} {total}')
                out.append(f'healthmate_http_request_duration_seconds_sum{{handler="{h}",method="{m}"}} {seconds}')
                out.append(f'healthmate_http_request_duration_seconds_count{{handler="{h}",method="{m}"}} {total}')
            out.append("# HELP healthmate_active_users Users active in the last five minutes.")
            out.append("# TYPE healthmate_active_users gauge")
            out.append(f"healthmate_active_users {len(self.requests) and random.randint(1, 50)}")
            out.append("# HELP healthmate_health_data_points_ingested_total Health data points stored.")
            out.append("# TYPE healthmate_health_data_points_ingested_total counter")
            out.append(f"healthmate_health_data_points_ingested_total {self.ingested}")
            out.append("# HELP healthmate_db_pool_connections_in_use Database pool connections in use.")
            out.append("# TYPE healthmate_db_pool_connections_in_use gauge")
            out.append(f"healthmate_db_pool_connections_in_use {self.db_in_use}")
            out.append("# HELP healthmate_dependency_up 1 when the latest check of a dependency succeeded, else 0.")
            out.append("# TYPE healthmate_dependency_up gauge")
            for name, problem in sorted(DEPENDENCIES.problems.items()):
                out.append(f'healthmate_dependency_up{{dependency="{name}"}} {0 if problem else 1}')
            out.append("# HELP healthmate_redis_errors_total Redis command errors.")
            out.append("# TYPE healthmate_redis_errors_total counter")
            out.append(f"healthmate_redis_errors_total {self.redis_errors}")
            out.append("# HELP healthmate_celery_tasks_total Celery tasks by task and outcome.")
            out.append("# TYPE healthmate_celery_tasks_total counter")
            for outcome in ("success", "failure", "retry"):
                out.append(f'healthmate_celery_tasks_total{{task="healthmate.sync",outcome="{outcome}"}} 0')
        return "\n".join(out) + "\n"


METRICS = Metrics()


def lookup(host, port, seconds):
    """getaddrinfo bounded in time: it has none of its own, and the name of a stopped
    container can take Docker's DNS 10 s to fail, which would hold the check that long
    after the container is back. A lookup still running is left to finish on its own."""
    answer = queue.Queue(maxsize=1)

    def run():
        try:
            answer.put(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0])
        except OSError as error:
            answer.put(error)

    threading.Thread(target=run, daemon=True).start()
    try:
        found = answer.get(timeout=seconds)
    except queue.Empty:
        raise TimeoutError(f"looking up {host} took over {seconds} s") from None
    if isinstance(found, Exception):
        raise found
    return found


def connect(database_url, **options):
    """A psycopg2 connection to a DATABASE_URL-style URL (SQLAlchemy driver prefixes allowed),
    bounded in time: the name lookup (libpq's own has no timeout) and the connect."""
    import psycopg2

    url = database_url.replace("postgresql+asyncpg://", "postgresql://").replace("postgresql+psycopg2://", "postgresql://")
    parsed = urlparse(url)
    address = lookup(parsed.hostname, parsed.port or 5432, Dependencies.LOOKUP_SECONDS)
    return psycopg2.connect(url, hostaddr=address, connect_timeout=3, keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=2, **options)


class Markers:
    """Rows the e2e HA drill writes and reads through nginx (test/e2e/ha.test.ts): each POST commits
    one id through DATABASE_URL (HAProxy's write port, the Patroni leader) and answers 201 only once
    the commit returned, so every 201 the client sees is a row the database acknowledged; GET /latest
    reads through DATABASE_READ_URL (the replicas). One connection per request, as a pool after a
    failover would reconnect; no statement_timeout: cancelling a commit that waits for the
    synchronous standby would report success for a row only the old leader has. The table is the
    test's (e2e_markers); without it every call answers 503."""

    @staticmethod
    def write(marker):
        db = connect(setting("DATABASE_URL"))
        try:
            with db.cursor() as cursor:
                cursor.execute("INSERT INTO e2e_markers (id) VALUES (%s)", (marker,))
            # Returns once the leader (and its synchronous standby) committed, else raises.
            db.commit()
        finally:
            db.close()

    @staticmethod
    def latest():
        db = connect(setting("DATABASE_READ_URL") or setting("DATABASE_URL"))
        try:
            with db.cursor() as cursor:
                cursor.execute("SELECT coalesce(max(id), 0), count(*), pg_is_in_recovery() FROM e2e_markers")
                highest, count, replica = cursor.fetchone()
            return {"max": highest, "count": count, "replica": replica}
        finally:
            db.close()


class Dependencies:
    """Checks the database and Redis every second in the background, so /health
    under load costs nothing and never piles up connections, and a dependency that
    is back shows within a second. Each check is bounded as a whole (name lookup,
    connect and TCP user timeouts), so a network that silently drops packets or a
    name that no longer resolves shows within seconds instead of hanging the check."""

    INTERVAL_SECONDS = 1
    # Docker's DNS answers a name it knows within milliseconds.
    LOOKUP_SECONDS = 2
    NAMES = ("database", "redis")

    def __init__(self):
        self.database_url = setting("DATABASE_URL")
        self.redis_url = setting("REDIS_URL")
        # dependency -> None when the latest check passed, else the error text.
        self.problems = {}
        self.db = None
        self.check()
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        # One check a second, start to start: after a slow (failing) one the next starts at once.
        started = time.monotonic()
        while True:
            time.sleep(max(0.0, started + self.INTERVAL_SECONDS - time.monotonic()))
            started = time.monotonic()
            self.check()

    def check(self):
        problems = {}
        if self.database_url:
            problems["database"] = self.check_database()
        if self.redis_url:
            problems["redis"] = self.check_redis()
        for name, problem in problems.items():
            if problem and problem != self.problems.get(name):
                print(f"dependency check failed: {name}: {problem}", file=sys.stderr, flush=True)
            elif not problem and self.problems.get(name):
                print(f"dependency back: {name}", file=sys.stderr, flush=True)
        self.problems = problems

    def check_database(self):
        try:
            if self.db is None or self.db.closed:
                # tcp_user_timeout: unacknowledged data (a dropped network) fails the query after 3 s.
                self.db = connect(self.database_url, tcp_user_timeout=3000)
                self.db.autocommit = True
            with self.db.cursor() as cursor:
                cursor.execute("SELECT 1")
            METRICS.db_in_use = 1
            return None
        except Exception as error:  # any failure makes the replica unhealthy
            if self.db is not None:
                self.db.close()
                self.db = None
            METRICS.db_in_use = 0
            return f"{type(error).__name__}: {str(error).strip()}"

    def check_redis(self):
        try:
            import redis

            # A bounded lookup first: redis-py's own (unbounded) one is then answered at once.
            parsed = urlparse(self.redis_url)
            lookup(parsed.hostname, parsed.port or 6379, self.LOOKUP_SECONDS)
            redis.Redis.from_url(self.redis_url, socket_timeout=3, socket_connect_timeout=3).ping()
            return None
        except Exception as error:
            METRICS.redis_errors += 1
            return f"{type(error).__name__}: {str(error).strip()}"

    def failing(self):
        return {name: problem for name, problem in self.problems.items() if problem}

    def report(self):
        """Per-dependency state for /health: "ok" or the error of the latest check."""
        return {name: problem or "ok" for name, problem in self.problems.items()}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections close after this, so a stopping replica drains.
    timeout = 5

    def reply(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return status

    def route(self):
        path = urlparse(self.path).path
        if path == "/health":
            if not HEALTHY:
                return "/health", self.reply(503, {"status": "unhealthy", "reason": "built to fail", "version": VERSION})
            # The contract (docs/monitoring.md): 503 while a dependency fails, naming it under "checks".
            failing = DEPENDENCIES.failing()
            if failing:
                reason = "cannot reach " + ", ".join(sorted(failing))
                return "/health", self.reply(503, {"status": "unhealthy", "reason": reason, "version": VERSION, "checks": DEPENDENCIES.report()})
            return "/health", self.reply(200, {"status": "healthy", "version": VERSION, "checks": DEPENDENCIES.report()})
        if path == "/version":
            return "/version", self.reply(200, {"version": VERSION, "hostname": HOSTNAME})
        if path == "/metrics":
            return "/metrics", self.reply(200, METRICS.render(), "text/plain; version=0.0.4")
        if path == "/api/v1/health-data":
            if self.command == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                points = json.loads(self.rfile.read(length) or b"[]") if length else []
                METRICS.ingested += len(points) if isinstance(points, list) else 1
                return path, self.reply(201, {"stored": METRICS.ingested})
            return path, self.reply(200, {"items": [{"type": "heart_rate", "value": 62}], "version": VERSION})
        if path == "/api/v1/markers" and self.command == "POST":
            try:
                length = int(self.headers.get("Content-Length") or 0)
                marker = int(json.loads(self.rfile.read(length))["id"])
                Markers.write(marker)
                return path, self.reply(201, {"id": marker})
            except Exception as error:
                return path, self.reply(503, {"detail": f"{type(error).__name__}: {str(error).strip()}"})
        if path == "/api/v1/markers/latest":
            try:
                return path, self.reply(200, Markers.latest())
            except Exception as error:
                return path, self.reply(503, {"detail": f"{type(error).__name__}: {str(error).strip()}"})
        if path == "/api/v1/chat":
            return path, self.reply(200, {"answer": "Drink water and rest.", "version": VERSION})
        return "other", self.reply(404, {"detail": "Not Found"})

    def handle_any(self):
        started = time.monotonic()
        handler, status = self.route()
        METRICS.observe(handler, self.command, status, time.monotonic() - started)

    do_GET = do_HEAD = do_POST = handle_any

    def log_message(self, *args):
        pass


def serve():
    global DEPENDENCIES
    DEPENDENCIES = Dependencies()
    server = ThreadingHTTPServer(("0.0.0.0", 8000), Handler)
    # Graceful stop: finish requests in flight, then exit (like uvicorn on SIGTERM).
    server.daemon_threads = False
    server.block_on_close = True

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"backend stand-in {VERSION} on {HOSTNAME}:8000 (healthy={HEALTHY})", flush=True)
    server.serve_forever()
    server.server_close()


def idle(role, argv):
    """A worker or beat that waits for SIGTERM; beat keeps its --schedule file fresh like celery beat."""
    schedule = argv[argv.index("--schedule") + 1] if "--schedule" in argv else None
    print(f"celery {role} stand-in {VERSION} ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        if schedule:
            with open(schedule, "a", encoding="utf-8"):
                os.utime(schedule)
        time.sleep(10)


def main(argv):
    command = argv[0] if argv else "uvicorn"
    if command in ("uvicorn", "gunicorn"):
        serve()
    elif command == "celery":
        if "inspect" in argv or "status" in argv:
            print("-> worker@stand-in: OK\n        pong")
            return
        idle("beat" if "beat" in argv else "worker", argv)
    elif command == "alembic":
        print(f"alembic stand-in: {' '.join(argv[1:])}: nothing to migrate")
    else:
        sys.exit(f"backend stand-in: unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
