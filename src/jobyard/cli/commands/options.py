"""Option groups shared by several commands, defined once."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

from jobyard.client import DEFAULT_URL, Client
from jobyard.core.errors import Invalid
from jobyard.core.settings import Settings


def add_database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="sqlite:///path.db or postgresql://… (default: $JOBYARD_DATABASE_URL, "
        "else sqlite:///./jobyard.db)",
    )


def settings_from(args: argparse.Namespace, **overrides: object) -> Settings:
    return Settings.from_env(None, database_url=getattr(args, "database_url", None), **overrides)


# -- commands that talk to a server over HTTP -------------------------------------------------

CONFIG_KEYS = ("url", "token", "user", "password")


def _connection_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group(
        "connection",
        "Flags beat JOBYARD_URL, JOBYARD_TOKEN, JOBYARD_USER and JOBYARD_PASSWORD, which beat\n"
        "the config file (TOML with the keys url, token, user and password).",
    )
    group.add_argument("--url", help=f"the server (default: {DEFAULT_URL})")
    group.add_argument("--token", help="sign in with this API token")
    group.add_argument(
        "--user", help="sign in as this user; the password comes from JOBYARD_PASSWORD or a prompt"
    )
    group.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $JOBYARD_CONFIG, else ~/.config/jobyard/config.toml)",
    )
    return parent


def _json_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print JSON for scripts, not a table")
    return parent


CONNECTION = _connection_parent()  # pass as parents=[CONNECTION] to every remote command
JSON_OUTPUT = _json_parent()


def config_path(args: argparse.Namespace, env: Mapping[str, str]) -> Path:
    if getattr(args, "config", None):
        return Path(args.config)
    if env.get("JOBYARD_CONFIG"):
        return Path(env["JOBYARD_CONFIG"])
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "jobyard" / "config.toml"


def read_config(path: Path, *, required: bool) -> dict[str, str]:
    """The connection keys of a TOML config file; {} when there is none."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        if required:
            raise Invalid(f"no config file {path}", field="config") from None
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise Invalid(f"cannot read {path}: {exc}", field="config") from exc
    unknown = sorted(set(data) - set(CONFIG_KEYS))
    if unknown:
        raise Invalid(f"{path}: unknown key {unknown[0]!r} (keys: {', '.join(CONFIG_KEYS)})")
    return {k: str(v) for k, v in data.items()}


def connection(
    args: argparse.Namespace, env: Mapping[str, str] | None = None
) -> dict[str, str | None]:
    """url, token, user and password from flags, then the environment, then the config file.

    A token and a user may both be configured; the one from the earlier source wins (a flag
    over a variable over the file), a token when both come from the same one.
    """
    env = os.environ if env is None else env
    explicit = bool(getattr(args, "config", None) or env.get("JOBYARD_CONFIG"))
    sources: list[Mapping[str, str | None]] = [
        {k: getattr(args, k, None) for k in ("url", "token", "user")},
        {k: env.get(f"JOBYARD_{k.upper()}") for k in CONFIG_KEYS},
        read_config(config_path(args, env), required=explicit),
    ]
    url = next((s["url"] for s in sources if s.get("url")), None) or DEFAULT_URL
    token = user = password = None
    for source in sources:
        if source.get("token"):
            token = source["token"]
            break
        if source.get("user"):
            user = source["user"]
            break
    if user is not None:
        password = next((s["password"] for s in sources[1:] if s.get("password")), None)
    return {"url": url, "token": token, "user": user, "password": password}


def connect(args: argparse.Namespace) -> Client:
    """A client for the server and credentials the command line, environment and config say."""
    found = connection(args)
    if found["user"] and found["password"] is None:
        if not sys.stdin.isatty():
            raise Invalid(f"set JOBYARD_PASSWORD to sign in as {found['user']}", field="password")
        found["password"] = getpass.getpass(f"password for {found['user']}: ")
    return Client(
        found["url"] or DEFAULT_URL,
        token=found["token"],
        user=found["user"],
        password=found["password"],
    )
