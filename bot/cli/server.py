"""``infoshare serve`` and ``infoshare teams-package``."""

from __future__ import annotations

import logging

import click

from bot.cli.options import UsageProblem, config_option, db_option, get_config, make_engine


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=3978, show_default=True, type=int, help="Port to listen on.")
@click.option("--dev", is_flag=True,
              help="Allow Teams with no MicrosoftAppId (Bot Framework Emulator, local tests); loopback only.")
@click.option("--slack-socket-mode", is_flag=True,
              help="Connect to Slack over Socket Mode (needs SLACK_APP_TOKEN) instead of the HTTP endpoint.")
@db_option
@config_option
def serve(host, port, dev, slack_socket_mode, db_path, config_path):
    """Run the Slack and Teams endpoints and /healthz on one aiohttp server."""
    from aiohttp import web

    from bot.config import is_loopback
    from bot.server import build_app, load_channels
    if dev and not is_loopback(host):
        raise UsageProblem(f"--dev turns Teams authentication off, so it only binds a loopback address, not {host!r}")
    _check_address(host, port)  # before anything starts: a bad address is one line, not a crash
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from bot.jobs.digest_post import WeeklyDigest
    from bot.jobs.housekeeping import Housekeeping
    from bot.jobs.schedule import ScheduleError, parse_schedule
    config = get_config(config_path)
    try:
        parse_schedule(config.digest_schedule)
    except ScheduleError as exc:
        raise UsageProblem(f"[digest] schedule: {exc}") from None
    engine = make_engine(db_path, config_path)
    engine.warm_up(every_pack=True)
    channels = load_channels(engine, config, dev=dev, host=host, socket_mode=slack_socket_mode)
    for name, why in channels.disabled.items():
        click.echo(f"{name}: not enabled: {why}", err=True)
    click.echo(f"infoshare serving on http://{host}:{port} (healthz"
               + ((", Slack over Socket Mode" if channels.slack.socket_mode else ", /slack/events")
                  if channels.slack is not None else "")
               + (", /api/messages" if channels.teams is not None else "") + ")", err=True)
    try:
        web.run_app(build_app(channels, WeeklyDigest(engine, config, channels), Housekeeping(engine, config)),
                    host=host, port=port, print=None, access_log=None)
    except OSError as exc:  # the port is in use, or the address is not this machine's
        raise UsageProblem(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _check_address(host: str, port: int) -> None:
    """Refuse at once a ``--host`` that does not resolve or a port that cannot be bound."""
    import socket
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageProblem(f"--host {host!r} does not resolve ({getattr(exc, 'strerror', None) or exc})") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            raise UsageProblem(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@click.command("teams-package")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Where to write the Teams app package (.zip).")
def teams_package(out_path):
    """Write the Teams app package with botId taken from MicrosoftAppId."""
    from bot.teams.package import write_package
    try:
        path = write_package(out_path)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    click.echo(f"wrote {path}")
