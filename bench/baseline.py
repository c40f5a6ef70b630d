"""Serve a benchmark baseline with exactly the server settings of `her2-cds serve` (same workers,
worker class, read deadlines): `python -m bench.baseline bare|floor` (HOST/PORT from the environment)."""
from __future__ import annotations

import sys

from cds_service.server import serve
from cds_service.settings import Settings


def main() -> int:
    which = sys.argv[1]
    if which not in ("bare", "floor"):
        sys.exit("usage: python -m bench.baseline bare|floor")

    def build():  # imported in the worker, after gevent's patching, like the service's app
        from bench import bare_app

        return getattr(bare_app, which)

    serve(Settings.from_env(), build)
    return 0


if __name__ == "__main__":
    sys.exit(main())
