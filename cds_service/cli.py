"""`her2-cds`: serve the service, or send a fixture's hook request and print the cards."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .discovery import SERVICE_FOR_HOOK
from .knowledge import default_fixtures_dir
from .settings import Settings, SettingsError


def _serve(args: argparse.Namespace) -> int:
    """Check the configuration, then serve (cds_service/server.py says how and why)."""
    from .server import check_in_child, serve, with_shared_pseudonym_key

    try:
        settings = Settings.from_env()
        settings = settings.replace(host=args.host or settings.host, port=args.port or settings.port)
    except SettingsError as exc:
        print(f"her2-cds: {exc}", file=sys.stderr)
        return 2
    problem = check_in_child(lambda: _start_checks(settings))  # before the server listens
    if problem:
        print(f"her2-cds: cannot start: {problem}", file=sys.stderr)
        return 2
    settings = with_shared_pseudonym_key(settings)

    def build() -> Any:
        from .app import create_app

        return create_app(settings)

    serve(settings, build)
    return 0


def _start_checks(settings: Settings) -> None:
    """What must hold before the server listens: a safe configuration (`startup.preflight`) and
    knowledge files that load and validate."""
    from .knowledge import load_knowledge
    from .startup import preflight

    preflight(settings)
    load_knowledge(settings.knowledge_dir)


def fixture_request(name: str) -> dict:
    """A fixture's hook request, by name (fixtures/requests/NAME.json) or by path."""
    path = Path(name)
    if not path.is_file():
        path = default_fixtures_dir() / "requests" / f"{name.removesuffix('.json')}.json"
    if not path.is_file():
        names = sorted(p.stem for p in (default_fixtures_dir() / "requests").glob("*.json"))
        raise SystemExit(f"no fixture {name!r}; available: {', '.join(names)}")
    return json.loads(path.read_text(encoding="utf-8"))


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
    request = fixture_request(args.fixture)
    service = SERVICE_FOR_HOOK.get(request.get("hook"), "her2-patient-view")
    if args.url:
        import requests

        response = requests.post(f"{args.url.rstrip('/')}/cds-services/{service}", json=request, timeout=30)
        status, body = response.status_code, response.json()
    else:
        from .app import create_app

        client = create_app(Settings.from_env()).test_client()
        response = client.post(f"/cds-services/{service}", json=request)
        status, body = response.status_code, response.get_json()
    print(f"{service} -> HTTP {status}")
    if args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
    elif status == 200:
        print(render_cards(body["cards"]))
    else:
        print(json.dumps(body, indent=2))
    return 0 if status == 200 else 1


def _db_upgrade(args: argparse.Namespace) -> int:
    from .storage import DEFAULT_DATABASE_URL, migrate

    settings = Settings.from_env()
    migrate(settings.database_url or DEFAULT_DATABASE_URL)
    print("database schema is at the newest revision")
    return 0


def _trials_refresh(args: argparse.Namespace) -> int:
    from .knowledge import load_knowledge
    from .trial_registry import RefreshError, overlay_path, refresh

    settings = Settings.from_env()
    knowledge = load_knowledge(settings.knowledge_dir)
    try:
        path, report = refresh(settings, knowledge, min_interval_s=args.min_interval)
    except RefreshError as exc:
        print(f"refresh failed: {exc}. The previous overlay ({overlay_path(settings, knowledge)}) is left untouched.",
              file=sys.stderr)
        return 1
    open_count = sum(1 for v in report.statuses.values() if v["overallStatus"] in ("RECRUITING", "NOT_YET_RECRUITING"))
    print(f"wrote {path}: {len(report.statuses)} trials, {open_count} recruiting or not yet recruiting")
    for nct in report.missing:
        print(f"not found in the registry: {nct}")
    return 0


def _knowledge_report(args: argparse.Namespace) -> int:
    from .knowledge import load_knowledge
    from .report import build, render_html, render_markdown

    knowledge = load_knowledge(Settings.from_env().knowledge_dir)
    items = build(knowledge)
    text = render_html(knowledge, items) if args.format == "html" else render_markdown(knowledge, items)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="her2-cds", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service under gunicorn")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=_serve)
    call = sub.add_parser("call", help="send a fixture's hook request and print the cards")
    call.add_argument("fixture", help="fixture name (see fixtures/requests) or a JSON file")
    call.add_argument("--url", help="base URL of a running service (default: in-process)")
    call.add_argument("--json", action="store_true", help="print the raw JSON response")
    call.set_defaults(func=_call)
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply the Alembic migrations to DATABASE_URL").set_defaults(func=_db_upgrade)
    trials = sub.add_parser("trials", help="trial status from ClinicalTrials.gov")
    trials_sub = trials.add_subparsers(dest="trials_command", required=True)
    refresh = trials_sub.add_parser("refresh", help="refresh the trial-status overlay from the registry")
    refresh.add_argument("--min-interval", type=float, default=0.25, help="seconds between registry requests")
    refresh.set_defaults(func=_trials_refresh)
    knowledge = sub.add_parser("knowledge", help="the knowledge files")
    knowledge_sub = knowledge.add_subparsers(dest="knowledge_command", required=True)
    report = knowledge_sub.add_parser("report", help="a document for clinical reviewers")
    report.add_argument("--format", choices=["md", "html"], default="md")
    report.add_argument("--output", help="write to this file instead of stdout")
    report.set_defaults(func=_knowledge_report)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
