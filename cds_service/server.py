"""How `her2-cds serve` runs the service: gunicorn with gevent workers, one request per connection,
and a deadline on reading each request. The measurements behind this: docs/benchmarks.md.

- A hook call is CPU-bound (~10 ms of Python per call). A gevent worker runs one call at a time,
  so calls never share the GIL inside a worker, and a busy worker does not accept: the other
  worker takes the next connection (connections close after each answer, so none stays tied to
  a busy worker).
- While a call waits on an EHR's FHIR server (the fallback, up to HER2CDS_FHIR_BUDGET_S), the
  worker serves other calls: the wait is cooperative I/O, not a held thread.
- A slow client costs a greenlet, not a worker: its request line and headers must arrive within
  HER2CDS_READ_TIMEOUT_S (gunicorn's async-worker header deadline) and its body within
  HER2CDS_READ_TIMEOUT_S again (`ReadBodyWithin`), or the connection is closed.
- HER2CDS_THREADS switches to gunicorn's threaded worker (1 thread: the sync worker) for sites
  that put a buffering proxy in front; a thread is then tied to each connection.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from collections.abc import Callable, Iterable
from io import BytesIO
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from .logging_setup import JsonFormatter, configure_logging
from .settings import Settings

DEFAULT_WORKERS = 2  # one per core of the 2-core pod the service is sized for (docs/benchmarks.md)
GREENLETS_PER_WORKER = 1000  # open connections one worker holds; slow ones cost a greenlet each
WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """The gunicorn settings `her2-cds serve` runs with (the benchmark's baselines use the same)."""
    options: dict[str, Any] = {
        "bind": f"{settings.host}:{settings.port}",
        "workers": settings.workers or DEFAULT_WORKERS,
        "timeout": settings.timeout_s,
        "graceful_timeout": settings.graceful_timeout_s,
        "accesslog": None,
        "child_exit": _child_exit,
        "control_socket_disable": True,  # gunicorn >= 25 would open ~/.gunicorn/gunicorn.ctl, shared by every server
        "logger_class": JsonLinesLogger,
        "loglevel": settings.log_level.lower(),
    }
    if Path("/dev/shm").is_dir():
        options["worker_tmp_dir"] = "/dev/shm"  # heartbeat files off the (read-only) root file system
    if settings.threads:
        options.update(worker_class="gthread" if settings.threads > 1 else "sync", threads=settings.threads)
    else:
        # The async worker bounds the wait for a request's line and headers by `keepalive`
        # (gevent.Timeout around the parse); with one request per connection that is all it does.
        options.update(worker_class="gevent", worker_connections=GREENLETS_PER_WORKER,
                       keepalive=settings.read_timeout_s, pre_request=_one_request_per_connection)
    return options


class JsonLinesLogger(Logger):
    """gunicorn's own log lines (start, workers, signals, errors) as JSON lines, like the service's."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers + self.access_log.handlers:
            handler.setFormatter(JsonFormatter())


def _one_request_per_connection(_worker: Any, req: Any) -> None:
    req.must_close = True  # answered with "Connection: close": the next call goes to an idle worker


def _child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class ReadBodyWithin:
    """WSGI middleware: the whole request body must arrive within `seconds`, else 408 and close.

    The body is then handed to the app from memory. Bodies declared larger than `max_bytes` are
    left to the app, which refuses them (413) without reading. Needs a gevent worker (the deadline
    is a gevent.Timeout, which also bounds a client that sends one byte at a time)."""

    def __init__(self, app: WsgiApp, seconds: float, max_bytes: int) -> None:
        self.app, self.seconds, self.max_bytes = app, seconds, max_bytes

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        import gevent

        try:
            declared = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            declared = -1
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if declared > self.max_bytes or (declared < 0 and not chunked):
            return self.app(environ, start_response)
        body = None
        with gevent.Timeout(self.seconds, False):
            body = environ["wsgi.input"].read(declared if declared >= 0 else self.max_bytes + 1)
        if body is None:
            answer = json.dumps({"error": "request-timeout",
                                 "reason": f"the request body did not arrive within {self.seconds:g} s"}).encode()
            start_response("408 Request Timeout", [("Content-Type", "application/json"), ("Connection", "close"),
                                                   ("Content-Length", str(len(answer)))])
            return [answer]
        environ["wsgi.input"] = BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


class Server(BaseApplication):
    """gunicorn with these options, each worker serving the app `load()` builds after the fork."""

    def __init__(self, options: dict[str, Any], load: Callable[[], WsgiApp]) -> None:
        self.options, self._load = options, load
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> WsgiApp:
        return self._load()


def prepare_metrics_dir() -> None:
    """Before prometheus_client is first imported: metrics from all workers, aggregated, from this run only."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="her2cds-metrics-")
    metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    metrics_dir.mkdir(parents=True, exist_ok=True)  # /tmp may be a fresh emptyDir
    for stale in metrics_dir.glob("*.db"):  # counters from a previous run must not be summed in
        stale.unlink()


def check_in_child(check: Callable[[], None]) -> tuple[str, int] | None:
    """Run `check` in a forked child; (its error as one line, exit status), or None when it passed.
    The exit status is the error's `exit_status` attribute when it has one, else 1.

    The start checks import the HTTP and JWT libraries, which must not be imported in the
    gunicorn master: they keep references to the `ssl` module that gevent then patches in each
    worker, and HTTPS calls from the workers fail (gevent issue 1016)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running the parent's cleanup
        os.close(read_end)
        code = 0
        try:
            check()
        except BaseException as exc:  # noqa: BLE001 - every failure becomes the one line
            os.write(write_end, (" ".join(str(exc).split()) or type(exc).__name__).encode()[:4000])
            wanted = getattr(exc, "exit_status", 1)
            code = wanted if isinstance(wanted, int) and 0 < wanted < 126 else 1
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        return message or "the start checks failed", code if code > 0 else 1
    return None


def with_shared_pseudonym_key(settings: Settings) -> Settings:
    """Local mode (no HER2CDS_PSEUDONYM_KEY): one random key for all workers of this server,
    drawn before the fork, so respawned workers keep it too."""
    if settings.pseudonym_key:
        return settings
    configure_logging(settings.log_level)
    logging.getLogger("her2cds").warning("HER2CDS_PSEUDONYM_KEY is not set: one random key was drawn for this server's "
                                         "workers; audit patient keys will not match across restarts or replicas.")
    return settings.replace(pseudonym_key=secrets.token_hex(32))


def serve(settings: Settings, build: Callable[[], WsgiApp]) -> None:
    """Run `build()`'s app under gunicorn with the options above until SIGTERM (graceful) or SIGINT."""
    prepare_metrics_dir()

    def load() -> WsgiApp:
        app = build()
        return app if settings.threads else ReadBodyWithin(app, settings.read_timeout_s, settings.max_body_bytes)

    Server(gunicorn_options(settings), load).run()
