"""Serve the rendered service the way `serve` does, optionally without its memory guard.

    python bench/serve_app.py SLUG [--without-guard] PORT

The benchmark's guard-overhead phase runs both, so the only difference
between the two servers is the guard middleware itself.
"""

import argparse
import importlib

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("slug")
    parser.add_argument("port", type=int)
    parser.add_argument("--without-guard", action="store_true")
    args = parser.parse_args()
    app = importlib.import_module(f"{args.slug}.app").create_app()
    if args.without_guard:
        before = len(app.user_middleware)
        app.user_middleware = [
            m for m in app.user_middleware if m.cls.__name__ != "MemoryGuardMiddleware"
        ]
        assert len(app.user_middleware) == before - 1, "the guard middleware was not found"
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
