"""`her2-cds`: serve the service, or send a hook request and print the cards.

Operator mistakes (bad settings, a database or service that cannot be reached, an unreadable
file) end with one line `her2-cds: error: ...` on stderr and exit status 1 (2 for usage and
configuration errors); only a bug shows a traceback. Long commands report progress on stderr.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import re
import socket
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Only what `serve` needs in the gunicorn master is imported here: the service's modules (and the
# HTTP libraries they use) are imported by the commands that need them, and by the workers.
from .knowledge import KnowledgeError, default_fixtures_dir
from .settings import Settings, SettingsError

SUPPORTED_DATABASES = "SQLite (sqlite:///FILE) or PostgreSQL (postgresql+psycopg://USER:PASSWORD@HOST/DB)"


class CliError(Exception):
    """An operator mistake or an unreachable dependency: reported as one line with `exit_status`
    (1: something could not be reached, read or written; 2: usage or configuration)."""

    def __init__(self, message: str, exit_status: int = 1) -> None:
        super().__init__(message)
        self.exit_status = exit_status


def progress(message: str) -> None:
    """One progress line on stderr (stdout stays the command's output)."""
    print(f"her2-cds: {message}", file=sys.stderr, flush=True)


def _serve(args: argparse.Namespace) -> int:
    """Check the configuration, the knowledge files, the database and the address, then serve
    (cds_service/server.py says how and why). Every check runs before gunicorn starts."""
    from .server import check_in_child, serve, with_shared_pseudonym_key

    settings = Settings.from_env()
    settings = settings.replace(host=args.host or settings.host, port=args.port or settings.port)
    failure = check_in_child(lambda: _start_checks(settings))  # in a child: the master stays free of ssl users
    if failure:
        raise CliError(*failure)
    _check_can_listen(settings.host, settings.port)
    settings = with_shared_pseudonym_key(settings)

    def build() -> Any:
        from .app import create_app

        return create_app(settings)

    serve(settings, build)
    return 0


def _start_checks(settings: Settings) -> None:
    """What must hold before the server listens: a safe configuration (`startup.preflight`),
    knowledge files that load and validate, and a database that answers (migrated first when
    HER2CDS_DB_AUTO_MIGRATE is on). A failure is raised as a CliError with its one line."""
    from .knowledge import load_knowledge
    from .startup import preflight
    from .storage import Store

    try:
        preflight(settings)
        load_knowledge(settings.knowledge_dir)
        store = Store(_database_url(settings), auto_migrate=settings.db_auto_migrate)
        with store.engine.connect():
            pass
    except Exception as exc:
        known = _operator_error(exc, settings)
        if known is None:
            raise
        raise CliError(*known) from None


def _check_can_listen(host: str, port: int) -> None:
    """One line instead of gunicorn's retries when the address is taken or cannot be bound."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}", 2) from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            hint = " (another server is listening there: stop it or choose --port)" if exc.errno == errno.EADDRINUSE else ""
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from None


def fixture_request(name: str) -> dict:
    """A fixture's hook request, by name (fixtures/requests/NAME.json) or by path."""
    path = Path(name)
    if not path.is_file():
        path = default_fixtures_dir() / "requests" / f"{name.removesuffix('.json')}.json"
    if not path.is_file():
        names = sorted(p.stem for p in (default_fixtures_dir() / "requests").glob("*.json"))
        raise CliError(f"no fixture {name!r}; available: {', '.join(names)}")
    request = _read_json(path)
    if not isinstance(request, dict) or "hook" not in request:
        bundle = isinstance(request, dict) and request.get("resourceType") == "Bundle"
        raise CliError(f"{path}: not a CDS Hooks request (a JSON object with \"hook\", \"context\" and \"prefetch\")"
                       + ("; for a patient's Bundle use --patient-bundle FILE --hook HOOK" if bundle else ""), 2)
    return request


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CliError(f"{path}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})", 2) from None
    except UnicodeDecodeError:
        raise CliError(f"{path}: not JSON (not UTF-8 text)", 2) from None


def bundle_request(path: str, hook: str) -> dict:
    """A hook request built from a patient's FHIR Bundle (cds_service/bundle_request.py); the
    resources no prefetch key would carry are named on stderr."""
    from .bundle_request import BundleError, request_from_bundle
    from .discovery import SERVICE_FOR_HOOK
    from .services import SERVICES

    try:
        request, left_out = request_from_bundle(_read_json(Path(path)), hook, SERVICES[SERVICE_FOR_HOOK[hook]])
    except BundleError as exc:
        raise CliError(f"{path}: {exc}", 2) from None
    if left_out:
        progress(f"not sent (no prefetch key of {SERVICE_FOR_HOOK[hook]} would carry them; docs/input-codes.md section 2): "
                 + ", ".join(left_out))
    return request


def render_cards(cards: list[dict]) -> str:
    """Cards as readable text for a terminal."""
    if not cards:
        return "No cards (nothing to say for this request)."
    out = []
    for i, card in enumerate(cards, 1):
        topic = card.get("source", {}).get("topic", {}).get("code", "?")
        out.append(f"[{i}] {card['indicator'].upper()} · {topic} · {card['summary']}")
        ext = card.get("extension", {}).get("her2cds")
        if ext:
            out.append(f"    extension: {json.dumps(ext, ensure_ascii=False)}")
        out += [f"    {line}" for line in card.get("detail", "").splitlines()]
        for link in card.get("links", []):
            out.append(f"    link: {link['label']} <{link['url']}>")
        for sug in card.get("suggestions", []):
            for action in sug.get("actions", []):
                target = action.get("resourceId") or action.get("resource", {}).get("code", {}).get("text", "")
                out.append(f"    suggestion: {action['type']} {target} — {action['description']}")
        out.append(f"    source: {card['source']['label']}")
        out.append("")
    return "\n".join(out)


def _call(args: argparse.Namespace) -> int:
    from .discovery import SERVICE_FOR_HOOK

    if (args.fixture is None) == (args.patient_bundle is None):
        raise CliError("name a fixture (or a request file), or give --patient-bundle FILE, not both", 2)
    request = fixture_request(args.fixture) if args.fixture else bundle_request(args.patient_bundle, args.hook)
    service = SERVICE_FOR_HOOK.get(request.get("hook"), "her2-patient-view")
    if args.url:
        status, body = _post(args.url, service, request)
    else:
        status, body = _call_in_process(service, request)
    print(f"{service} -> HTTP {status}", file=sys.stderr)  # stdout is the answer only
    if args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
    elif status == 200:
        print(render_cards(body["cards"]))
    else:
        print(json.dumps(body, indent=2))
    return 0 if status == 200 else 1


def _post(base_url: str, service: str, request: dict) -> tuple[int, Any]:
    import requests

    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(f"--url {base_url!r} is not a base URL: give it with http:// or https://, "
                       "e.g. --url http://127.0.0.1:8080", 2)
    url = f"{base_url.rstrip('/')}/cds-services/{service}"
    try:
        response = requests.post(url, json=request, timeout=30)
    except requests.RequestException as exc:
        raise CliError(f"cannot reach the service at {base_url}: {_network_reason(exc)}") from None
    try:
        return response.status_code, response.json()
    except ValueError:
        raise CliError(f"{url} answered HTTP {response.status_code} with a body that is not JSON "
                       "(is this the HER2 CDS service?)") from None


def _call_in_process(service: str, request: dict) -> tuple[int, Any]:
    """The service in this process, on a throwaway SQLite database: the audit records and issued
    cards of a trial call never reach DATABASE_URL (nor its feedback report)."""
    from .app import create_app

    settings = Settings.from_env()
    with tempfile.TemporaryDirectory(prefix="her2cds-call-") as tmp:
        app = create_app(settings.replace(database_url=f"sqlite:///{tmp}/call.sqlite3", db_auto_migrate=True,
                                          log_level="ERROR"))
        response = app.test_client().post(f"/cds-services/{service}", json=request)
        app.extensions["her2cds"]["store"].engine.dispose()
        return response.status_code, response.get_json()


def _network_reason(exc: Exception) -> str:
    """The short cause of a network error ("Connection refused", "Name or service not known", ...)."""
    import requests

    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    return found.group(1).strip() if found else type(exc).__name__


def _database_url(settings: Settings) -> str:
    """DATABASE_URL (or the default SQLite file), checked: a dialect whose driver is installed, and
    for SQLite a directory that exists."""
    from sqlalchemy.engine import make_url

    from .storage import DEFAULT_DATABASE_URL

    url = settings.database_url or DEFAULT_DATABASE_URL
    parsed = make_url(url)  # ArgumentError: not a URL, or an unknown dialect
    try:
        parsed.get_dialect().import_dbapi()
    except ImportError as exc:
        raise CliError(f"DATABASE_URL names a {parsed.get_backend_name()} database, whose driver ({exc.name}) is not "
                       f"installed: the service stores its records in {SUPPORTED_DATABASES}", 2) from None
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        directory = Path(parsed.database).expanduser().absolute().parent
        if not directory.is_dir():
            raise CliError(f"DATABASE_URL: the directory of the SQLite file does not exist ({directory})", 2)
    return url


def _shown_url(url: str) -> str:
    """A database URL fit for a terminal or a log: the password hidden."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


def _store(settings: Settings) -> Any:
    """The database the command works on (migrated first when HER2CDS_DB_AUTO_MIGRATE is on)."""
    from .storage import Store

    store = Store(_database_url(settings), auto_migrate=settings.db_auto_migrate)
    with store.engine.connect():
        pass  # an unreachable database raises here, with its reason
    state, detail = store.check()
    if state != "ok":
        raise CliError(f"database {_shown_url(store.url)}: {state}" + (f": {detail}" if detail else ""))
    return store


def _db_upgrade(args: argparse.Namespace) -> int:
    from .storage import head_revisions, migrate

    settings = Settings.from_env()
    url = _database_url(settings)
    if not settings.database_url:
        progress(f"DATABASE_URL is not set: using the default SQLite file in the working directory ({url})")
    progress(f"upgrading {_shown_url(url)} to revision {', '.join(sorted(head_revisions()))} ...")
    migrate(url)
    print(f"database schema is at the newest revision ({', '.join(sorted(head_revisions()))})")
    return 0


def _trials_refresh(args: argparse.Namespace) -> int:
    from .knowledge import load_knowledge
    from .trial_registry import RefreshError, refresh

    settings = Settings.from_env()
    knowledge = load_knowledge(settings.knowledge_dir)
    store = _store(settings)
    try:
        overlay, report = refresh(settings, knowledge, store, min_interval_s=args.min_interval, progress=progress)
    except RefreshError as exc:
        raise CliError(f"refresh failed: {exc}. The trial status in force (the previous refresh) is left untouched.") from None
    open_count = sum(1 for v in report.statuses.values() if v["overallStatus"] in ("RECRUITING", "NOT_YET_RECRUITING"))
    print(f"stored the registry status of {len(report.statuses)} trials in the database ({_shown_url(store.url)}), "
          f"{open_count} recruiting or not yet recruiting; refreshed {overlay.refreshed_at.isoformat()}")
    if settings.trial_overlay:
        print(f"exported a JSON copy to {settings.trial_overlay}")
    for nct in report.missing:
        print(f"not found in the registry: {nct}")
    return 0


def _trials_import(args: argparse.Namespace) -> int:
    from .knowledge import load_knowledge
    from .trial_registry import import_overlay

    settings = Settings.from_env()
    path = args.file or settings.trial_overlay
    if not path:
        raise CliError("name the overlay file to import (argument FILE or HER2CDS_TRIAL_OVERLAY)")
    knowledge = load_knowledge(settings.knowledge_dir)
    store = _store(settings)
    overlay = import_overlay(Path(path), store, knowledge, settings.trial_overlay_max_age_days)
    print(f"imported {path}: registry status of {len(overlay.trials)} trials, refreshed {overlay.refreshed_at.isoformat()}"
          + (f" ({overlay.age_days:.0f} days ago: STALE)" if overlay.stale else ""))
    return 0


def _knowledge_report(args: argparse.Namespace) -> int:
    from .knowledge import load_knowledge
    from .report import build, render_html, render_json, render_markdown

    _check_output(args.output)  # before running every fixture
    knowledge = load_knowledge(Settings.from_env().knowledge_dir)
    items = build(knowledge, progress=progress)
    return _write(args, {"html": render_html, "json": render_json, "md": render_markdown}[args.format](knowledge, items))


def _check_output(output: str | None) -> None:
    """An --output file that cannot be written is said before any work is done."""
    if not output:
        return
    path = Path(output)
    if path.is_dir():
        raise CliError(f"cannot write {output}: it is a directory", 2)
    if not path.absolute().parent.is_dir():
        raise CliError(f"cannot write {output}: the directory {path.absolute().parent} does not exist", 2)
    if not os.access(path if path.exists() else path.absolute().parent, os.W_OK):
        raise CliError(f"cannot write {output}: permission denied")


def _write(args: argparse.Namespace, text: str) -> int:
    """A report to --output, or to stdout."""
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(text)
    return 0


def _feedback_report(args: argparse.Namespace) -> int:
    from .feedback_report import render_json, render_markdown, tally
    from .knowledge import load_knowledge

    _check_output(args.output)
    settings = Settings.from_env()
    tallies, without_rules = tally(_store(settings), load_knowledge(settings.knowledge_dir))
    return _write(args, (render_json if args.format == "json" else render_markdown)(tallies, without_rules))


class _Version(argparse.Action):
    """`--version`: the package version and the knowledge version it serves."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from .knowledge import load_knowledge

        try:
            knowledge = f"knowledge {load_knowledge(Settings.from_env().knowledge_dir).version_label}"
        except (KnowledgeError, SettingsError, OSError) as exc:
            knowledge = f"knowledge not loadable: {_one_line(exc)}"
        print(f"her2-cds {metadata.version('her2-cds')} ({knowledge})")
        parser.exit()


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__


def _operator_error(exc: Exception, settings: Settings | None = None) -> tuple[str, int] | None:
    """(one-line message, exit status) for an error an operator can fix; None for a bug."""
    from alembic.util import CommandError
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from .security import ConfigError
    from .trial_registry import OverlayFileError

    if isinstance(exc, SettingsError | ConfigError):
        return f"configuration: {_one_line(exc).removeprefix('invalid configuration: ')}", 2
    if isinstance(exc, KnowledgeError):
        return f"knowledge files: {_one_line(exc)}", 2
    if isinstance(exc, CliError):
        return _one_line(exc), exc.exit_status
    if isinstance(exc, OverlayFileError):
        return _one_line(exc), 1
    if isinstance(exc, ArgumentError):
        return f"DATABASE_URL is not a usable SQLAlchemy URL ({_one_line(exc)})", 2
    if isinstance(exc, SQLAlchemyError):
        cause = getattr(exc, "orig", None) or exc
        from .storage import DEFAULT_DATABASE_URL

        settings = settings or (Settings.from_env() if _settings_ok() else None)
        url = _shown_url(settings.database_url or DEFAULT_DATABASE_URL) if settings else "DATABASE_URL"
        return f"database {url} cannot be used: {_one_line(cause).split(' (Background on this error')[0]}", 1
    if isinstance(exc, CommandError):
        return f"database migrations: {_one_line(exc)}", 1
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or _one_line(exc)}", 1
    return None


def _settings_ok() -> bool:
    try:
        Settings.from_env()
        return True
    except SettingsError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="her2-cds", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service under gunicorn")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=_serve)
    call = sub.add_parser(
        "call", help="send a hook request (a fixture, a request file or one built from a patient's Bundle) and print the cards",
        description="Send a hook request and print the cards. In-process (no --url) the service runs on a throwaway "
                    "SQLite database: nothing is written to DATABASE_URL, so trial calls never reach the audit or "
                    "the feedback report.")
    call.add_argument("fixture", nargs="?", help="fixture name (see fixtures/requests) or a hook request JSON file")
    call.add_argument("--patient-bundle", metavar="FILE",
                      help="build the request from a patient's FHIR Bundle (as fixtures/patients/*.json), as an EHR "
                           "would prefetch it; resources no prefetch key would carry are named on stderr")
    call.add_argument("--hook", choices=["patient-view", "order-select", "order-sign"], default="patient-view",
                      help="the hook of a --patient-bundle request (order hooks: its draft orders are the draftOrders)")
    call.add_argument("--url", help="base URL of a running service, e.g. http://127.0.0.1:8080 (default: in-process, "
                                    "on a throwaway database)")
    call.add_argument("--json", action="store_true", help="print the raw JSON response (the status line goes to stderr)")
    call.set_defaults(func=_call)
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply the Alembic migrations to DATABASE_URL").set_defaults(func=_db_upgrade)
    trials = sub.add_parser("trials", help="trial status from ClinicalTrials.gov")
    trials_sub = trials.add_subparsers(dest="trials_command", required=True)
    refresh = trials_sub.add_parser("refresh", help="ask the registry for every trial's status and store it in the database")
    refresh.add_argument("--min-interval", type=float, default=0.25, help="seconds between registry requests")
    refresh.set_defaults(func=_trials_refresh)
    imports = trials_sub.add_parser("import", help="store an exported trial-status file in the database")
    imports.add_argument("file", nargs="?", help="the JSON file (default: HER2CDS_TRIAL_OVERLAY)")
    imports.set_defaults(func=_trials_import)
    knowledge = sub.add_parser("knowledge", help="the knowledge files")
    knowledge_sub = knowledge.add_subparsers(dest="knowledge_command", required=True)
    report = knowledge_sub.add_parser("report", help="a document for clinical reviewers")
    report.add_argument("--format", choices=["md", "html", "json"], default="md")
    report.add_argument("--output", help="write to this file instead of stdout")
    report.set_defaults(func=_knowledge_report)
    feedback = sub.add_parser("feedback", help="the stored feedback on the cards")
    feedback_sub = feedback.add_subparsers(dest="feedback_command", required=True)
    feedback_report = feedback_sub.add_parser("report", help="per rule and knowledge version: issued, accepted, overridden")
    feedback_report.add_argument("--format", choices=["md", "json"], default="md")
    feedback_report.add_argument("--output", help="write to this file instead of stdout")
    feedback_report.set_defaults(func=_feedback_report)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("her2-cds: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as other Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 128 + 13  # as if ended by SIGPIPE
    except Exception as exc:
        known = _operator_error(exc)
        if known is None:
            raise  # a bug: the traceback is what a maintainer needs
        message, status = known
        print(f"her2-cds: error: {message}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
