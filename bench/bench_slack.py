"""Benchmark: signed Slack button clicks per second against ``infoshare serve``, beside a bare aiohttp handler.

    python bench/bench_slack.py [--conversations 50] [--clicks 40] [--seconds 60] [--think 0] [--db-dir /dev/shm]
    python bench/bench_slack.py --rounds 10 --conversations 20 --clicks 20   # paired: decides the targets
    python bench/bench_slack.py --rounds 10 --conversations 20 --clicks 40 --pin   # client and servers apart

Three servers run as subprocesses on 127.0.0.1, one after the other, under the same load:

* ``infoshare serve`` with Slack enabled, its Web API pointed at a mock Slack API that this
  script runs (it answers ``auth.test``, ``chat.postMessage``, ``chat.update`` ...);
* a bare aiohttp handler that reads the body and returns 200, nothing else;
* the "Bolt floor": the least any Bolt app that answers a click must do (Bolt's own request
  verification and dispatch, ``ack()``, then ``chat.update`` through the SDK's client on a shared
  session), with no engine and no store. It shows how much of the bare handler's throughput the
  required parts leave on this machine before infoshare does any work of its own.

Load: ``--conversations`` users click at once, each in its own DM. A user sends a signed
``block_actions`` request (the payload carries the message, as Slack's does), waits for the
acknowledgement, and (for infoshare) for the ``chat.update`` that shows the next question, then
clicks a button of that new message: No, Yes, Back, Back, and round again. So every click is a
real engine turn with a state save, never a stale or duplicate click. With ``--think S`` a user
waits a random 0..2S seconds between clicks (people read the question); by default they do not,
so the server runs flat out and the figures are its ceiling.

Reported per server: clicks per second, CPU time of the server process per click, and p50/p99 of
the acknowledgement latency (click to HTTP 200); for infoshare and the floor also p50/p99 from
click to the message update (the user waits for it before the next click). Targets (issue 13):
infoshare at least 0.8 of the Bolt floor's clicks per second in the same run, its own CPU a
click (its CPU per click less the floor's) at most 0.5 ms, p99 acknowledgement under 100 ms; the
older target, half the bare handler's clicks per second, is printed too. The machine is shared:
run it several times and compare ratios within a run.

``--pin`` (Linux): CPU isolation. This process, which makes the load and plays Slack's Web API,
runs on one CPU (the first it may use, normally 0) and every server on another (normally 1),
set with ``sched_setaffinity`` in the server's process before it starts Python, so every thread
it starts inherits it. Without it the client and the server share the cores, which in
production they do not (Slack is not on the server's machine): on two cores the load generator
and a server's event loop fill both, so a server with a second thread (infoshare's commit
thread: the engine turn and the durable commit, kept off the event loop) waits for a CPU that
the one-threaded floor never waits for, and the client takes CPU from whichever server is under
load. Pinned, every server has the same budget, one core, and the client never takes from it.
The output names the mode and the CPUs of each process, read back from the kernel for each of
its threads after the load, so it shows the pinning took effect. Unpinned is the default.

Everything stays on 127.0.0.1; the number of requests is bounded (conversations x clicks) and
so is the time (``--seconds``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
CYCLE = ("No", "Yes", "Back", "Back")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


# ---- CPU isolation (--pin) -----------------------------------------------------------------

def pin_cpus() -> tuple[int, int]:
    """The two CPUs ``--pin`` uses: the client's (this process) and the servers'. The first two
    this process may run on (normally 0 and 1)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit(f"--pin needs two CPUs; this process may run on {cpus}")
    return cpus[0], cpus[1]


def server_preexec(cpu: int | None):
    """For ``Popen(preexec_fn=...)``: in the child, after fork and before exec, restrict it to
    ``cpu``. The affinity survives exec and every thread the server starts later inherits it
    (its event loop, the commit thread, Bolt's and aiohttp's helpers). ``None``: unchanged."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def cpus_text(cpus) -> str:
    return ",".join(map(str, sorted(cpus)))


def affinity(pid: int) -> str:
    """The CPUs a process may run on, read back from the kernel for each of its threads:
    ``0 (3 threads)`` when they all agree, every distinct set otherwise."""
    sets = {}
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        try:
            sets.setdefault(cpus_text(os.sched_getaffinity(tid)), []).append(tid)
        except OSError:  # the thread ended meanwhile
            pass
    return "; ".join(f"CPU {cpus} ({len(ts)} thread{'s' * (len(ts) != 1)})" for cpus, ts in sets.items())


def commit_ms(folder: str, n: int = 50) -> float:
    """Median time of one durable SQLite commit in ``folder`` (the core stores with synchronous=FULL)."""
    sys.path.insert(0, str(ROOT))
    from storage import conversations
    from storage.db import open_db
    db = open_db(Path(folder) / "probe.db")
    conversations.ensure_schema(db)
    times = []
    for i in range(n):
        t = time.perf_counter()
        conversations.seen_event(db, f"probe-{i}")
        times.append(time.perf_counter() - t)
    db.conn.close()
    return statistics.median(times) * 1000


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000 if xs else float("nan")


# ---- the mock Slack Web API (in this process: the load needs to see each update) -------------

class MockAPI:
    def __init__(self):
        self.messages: dict[str, asyncio.Queue] = {}
        self.first_blocks: list | None = None
        self.n = 0

    def queue(self, channel: str) -> asyncio.Queue:
        return self.messages.setdefault(channel, asyncio.Queue())

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.text()
        args = json.loads(raw) if request.content_type == "application/json" else dict(parse_qsl(raw))
        args.update(request.query)
        self.n += 1
        ts = f"{1700000000 + self.n}.000100"
        if method == "auth.test":
            return web.json_response({"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1"})
        if method in ("chat.postMessage", "chat.update"):
            ts = args.get("ts") or ts
            if self.first_blocks is None and isinstance(args.get("blocks"), list):
                self.first_blocks = args["blocks"]  # a real question message, for the bare run's payloads
            self.queue(args["channel"]).put_nowait((ts, args.get("blocks")))
            return web.json_response({"ok": True, "channel": args["channel"], "ts": ts})
        if method == "conversations.open":
            return web.json_response({"ok": True, "channel": {"id": "D" + args["users"][1:]}})
        return web.json_response({"ok": True})


# ---- load ----------------------------------------------------------------------------------

def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)}


def click_body(user: str, dm: str, ts: str, blocks: list, label: str) -> str:
    for b in blocks:
        for e in b.get("elements", []) if b.get("type") == "actions" else []:
            if e.get("type") == "button" and e["text"]["text"] == label:
                payload = {"type": "block_actions", "user": {"id": user, "team_id": "T1"}, "team": {"id": "T1"},
                           "api_app_id": "A1", "token": "legacy", "trigger_id": uuid.uuid4().hex,
                           "container": {"type": "message", "message_ts": ts, "channel_id": dm},
                           "channel": {"id": dm}, "message": {"ts": ts, "blocks": blocks},
                           "response_url": "http://127.0.0.1:9/unused",
                           "actions": [{"type": "button", "action_id": e["action_id"], "block_id": "b",
                                        "value": e["value"], "action_ts": f"{time.time():.6f}"}]}
                return urlencode({"payload": json.dumps(payload)})
    raise RuntimeError(f"no button {label!r}")


async def user_loop(http: aiohttp.ClientSession, url: str, api: MockAPI | None, i: int, clicks: int,
                    deadline: float, acks: list[float], ends: list[float], template: list | None,
                    think: float = 0.0) -> int:
    user, dm = f"U{i:07d}", f"D{i:07d}"
    done = 0
    if api is not None and template is None:
        body = urlencode({"team_id": "T1", "channel_id": dm, "user_id": user, "command": "/infoshare",
                          "text": "start hmg-2018", "response_url": "http://127.0.0.1:9/unused",
                          "trigger_id": uuid.uuid4().hex})  # Slack's trigger ids are unique (a repeat is processed once)
        async with http.post(url, data=body, headers=signed(body)) as r:
            assert r.status == 200, r.status
        ts, blocks = await asyncio.wait_for(api.queue(dm).get(), 10)
    for k in range(clicks):
        if time.monotonic() > deadline:
            break
        if template is None:
            body = click_body(user, dm, ts, blocks, CYCLE[k % len(CYCLE)])
        else:  # the same work for the client: a fresh signed payload carrying a real message
            body = click_body(user, dm, "1700000001.000100", template, "No")
        t0 = time.perf_counter()
        async with http.post(url, data=body, headers=signed(body)) as r:
            await r.read()
            assert r.status == 200, r.status
        acks.append(time.perf_counter() - t0)
        if api is not None:
            ts, blocks = await asyncio.wait_for(api.queue(dm).get(), 10)
            ends.append(time.perf_counter() - t0)
        done += 1
        if think:
            await asyncio.sleep(random.uniform(0, 2 * think))
    return done


async def run_load(port: int, api: MockAPI | None, conversations: int, clicks: int, seconds: float,
                   template: list | None, think: float = 0.0, first_user: int = 0) -> dict:
    url = f"http://127.0.0.1:{port}/slack/events"
    acks: list[float] = []
    ends: list[float] = []
    conn = aiohttp.TCPConnector(limit=conversations)
    async with aiohttp.ClientSession(connector=conn) as http:
        # (each infoshare user first runs /infoshare start, which is not counted)
        t0, own0 = time.perf_counter(), time.process_time()
        deadline = time.monotonic() + seconds
        counts = await asyncio.gather(*(user_loop(http, url, api, i, clicks, deadline, acks, ends, template, think)
                                        for i in range(first_user, first_user + conversations)))
        elapsed, own = time.perf_counter() - t0, time.process_time() - own0
    n = sum(counts)
    return {"clicks": n, "seconds": elapsed, "per_second": n / elapsed, "load_cpu_ms": own * 1000 / max(n, 1),
            "ack_p50": pct(acks, 0.50),
            "ack_p99": pct(acks, 0.99), "update_p50": pct(ends, 0.50), "update_p99": pct(ends, 0.99)}


async def wait_healthy(port: int, proc: subprocess.Popen, path: str) -> None:
    """Until the server answers 200 and, for infoshare, says its answers are ready: the packs'
    matchers are built in the background at start, and that CPU is not a click's."""
    async with aiohttp.ClientSession() as http:
        for _ in range(1200):
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                async with http.get(f"http://127.0.0.1:{port}{path}") as r:
                    if r.status == 200:
                        body = await r.json(content_type=None) if r.content_type == "application/json" else {}
                        if body.get("answers", "ready") == "ready":
                            return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def start_mock_api() -> tuple[MockAPI, web.AppRunner, int]:
    """The mock Slack Web API on a free local port: the API, its runner (to clean up) and the port."""
    api = MockAPI()
    mock_app = web.Application()
    mock_app.router.add_route("*", "/{method}", api.handle)
    runner = web.AppRunner(mock_app, access_log=None)
    await runner.setup()
    mock_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", mock_port).start()
    return api, runner, mock_port


def server_env(mock_port: int) -> dict[str, str]:
    """The environment a server under test runs in: Slack's settings, its Web API on the mock."""
    env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
           "INFOSHARE_SLACK_API_URL": f"http://127.0.0.1:{mock_port}/", "INFOSHARE_CONFIG": "",
           "PYTHONPATH": str(ROOT)}
    env.pop("SLACK_APP_TOKEN", None)
    return env


async def bench(args) -> None:
    api, runner, mock_port = await start_mock_api()
    results = {}
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        args.commit_ms = commit_ms(tmp)
        env = server_env(mock_port)

        async def measure(name: str, argv: list[str], port: int, api_: MockAPI | None, template: list | None,
                          setup: int = 0) -> list | None:
            """Start a server, load it, note its CPU per click (``setup`` requests not counted), stop it."""
            proc = subprocess.Popen([sys.executable, *argv], cwd=tmp, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    preexec_fn=server_preexec(args.server_cpu))
            try:
                await wait_healthy(port, proc, "/healthz")
                cpu = cpu_seconds(proc.pid)
                results[name] = r = await run_load(port, api_, args.conversations, args.clicks, args.seconds,
                                                   template, args.think)
                r["cpu_ms"] = (cpu_seconds(proc.pid) - cpu) * 1000 / (r["clicks"] + setup)
                args.affinities[name] = affinity(proc.pid)  # after the load: every thread it started
            finally:
                stop(proc)
            return api.first_blocks or SAMPLE_BLOCKS

        # infoshare serve (each user's /infoshare start is a request of its own, not counted)
        port = free_port()
        template = await measure("infoshare serve (Slack)", ["-m", "bot", "serve", "--host", "127.0.0.1", "--port",
                                 str(port), "--db", str(Path(tmp) / "bench.db")], port, api, None, args.conversations)
        # the bare handler, same load (a click body of the same size, carrying a real question message)
        port = free_port()
        await measure("bare aiohttp handler", [__file__, "--serve-bare", str(port)], port, None, template)
        # the Bolt floor: the same clicks and updates, with no engine and no store
        port = free_port()
        await measure("Bolt floor (ack + update)", [__file__, "--serve-floor", str(port),
                                                    f"http://127.0.0.1:{mock_port}/"], port, api, template)
    await runner.cleanup()
    report(results, args)


async def bench_rounds(args) -> None:
    """``--rounds R``: infoshare and the Bolt floor both started once, then loaded in turn, R
    rounds of short bursts, the order swapped every round. The machine's drift (other work on
    the shared cores) then falls on both alike, and each round gives a paired ratio; the median
    and spread of those are reported. (The bare handler is left out: its figure does not enter
    issue 13's targets.)"""
    api, runner, mock_port = await start_mock_api()
    rows: dict[str, list[dict]] = {"infoshare serve (Slack)": [], "Bolt floor (ack + update)": []}
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        args.commit_ms = commit_ms(tmp)
        env = server_env(mock_port)
        ours_port, floor_port = free_port(), free_port()
        servers = {
            "infoshare serve (Slack)": (ours_port, [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1",
                                                    "--port", str(ours_port), "--db", str(Path(tmp) / "bench.db")]),
            "Bolt floor (ack + update)": (floor_port, [sys.executable, __file__, "--serve-floor", str(floor_port),
                                                       f"http://127.0.0.1:{mock_port}/"]),
        }
        procs = {name: subprocess.Popen(argv, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        preexec_fn=server_preexec(args.server_cpu))
                 for name, (_port, argv) in servers.items()}
        try:
            for name, (port, _argv) in servers.items():
                await wait_healthy(port, procs[name], "/healthz")
            for r in range(args.rounds):
                order = list(servers) if r % 2 == 0 else list(reversed(servers))
                for name in order:
                    ours = name.startswith("infoshare")
                    template = None if ours else (api.first_blocks or SAMPLE_BLOCKS)
                    cpu = cpu_seconds(procs[name].pid)
                    res = await run_load(servers[name][0], api, args.conversations, args.clicks, args.seconds,
                                         template, args.think, first_user=r * args.conversations)  # new users: new DMs
                    setup = args.conversations if ours else 0  # each burst's /infoshare start, not a click
                    res["cpu_ms"] = (cpu_seconds(procs[name].pid) - cpu) * 1000 / (res["clicks"] + setup)
                    rows[name].append(res)
            for name, proc in procs.items():  # after the load: every thread each server started
                args.affinities[name] = affinity(proc.pid)
        finally:
            for proc in procs.values():
                stop(proc)
    await runner.cleanup()
    ours, floor = rows["infoshare serve (Slack)"], rows["Bolt floor (ack + update)"]
    ratios = [a["per_second"] / b["per_second"] for a, b in zip(ours, floor)]
    owns = [a["cpu_ms"] - b["cpu_ms"] for a, b in zip(ours, floor)]
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print_mode(args)
    print(f"{args.rounds} rounds, each a burst of {args.conversations} conversations x {args.clicks} clicks on "
          f"infoshare and on the Bolt floor in turn (order swapped every round); one SQLite commit "
          f"{args.commit_ms:.2f} ms median")
    for name, rs in rows.items():
        print(f"{name:28} clicks/s median {statistics.median(x['per_second'] for x in rs):6.0f} "
              f"(range {min(x['per_second'] for x in rs):.0f}-{max(x['per_second'] for x in rs):.0f}), "
              f"CPU/click median {statistics.median(x['cpu_ms'] for x in rs):.2f} ms, "
              f"ack p99 median {statistics.median(x['ack_p99'] for x in rs):.1f} ms, "
              f"click to update p50/p99 median {statistics.median(x['update_p50'] for x in rs):.1f}/"
              f"{statistics.median(x['update_p99'] for x in rs):.1f} ms")
    share, own = statistics.median(ratios), statistics.median(owns)
    print(f"infoshare / Bolt floor, paired by round: median {share:.2f} (range {min(ratios):.2f}-{max(ratios):.2f}; "
          f"issue 13's target >= 0.80: {'met' if share >= 0.8 else 'NOT met'}); own CPU a click: median "
          f"{own:.2f} ms (range {min(owns):.2f}-{max(owns):.2f}; target <= 0.50: {'met' if own <= 0.5 else 'NOT met'})")


SAMPLE_BLOCKS = [{"type": "header", "text": {"type": "plain_text", "text": "Question 1"}},
                 {"type": "section", "text": {"type": "mrkdwn", "text": "*Is a child at immediate risk?*"}},
                 {"type": "actions", "elements": [
                     {"type": "button", "text": {"type": "plain_text", "text": "No"}, "action_id": "infoshare:answer:1",
                      "value": json.dumps({"e": ["answer", "no", "abcd1234.1", None], "n": "0123456789ab"})}]}]


def print_mode(args) -> None:
    """Which mode ran, and each process's CPUs as the kernel reports them (read back, not assumed)."""
    if args.server_cpu is None:
        print("mode: unpinned (client and servers share every CPU, as the scheduler places them)")
    else:
        print(f"mode: --pin (this process, the load and the mock Slack API, on CPU {args.client_cpu}; "
              f"each server on CPU {args.server_cpu})")
    print(f"  affinity, this process (load + mock Slack API): {affinity(os.getpid())}")
    for name, text in args.affinities.items():
        print(f"  affinity, {name}: {text}")


def report(results: dict, args) -> None:
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()} "
          f"({platform.python_implementation()})")
    print_mode(args)
    print(f"load: {args.conversations} concurrent conversations, up to {args.clicks} signed clicks each, "
          f"{'mean think time ' + format(args.think, 'g') + ' s, ' if args.think else 'no think time, '}"
          f"at most {args.seconds:.0f} s per server, all on 127.0.0.1; database in {args.db_dir or tempfile.gettempdir()} "
          f"(one SQLite commit there: {args.commit_ms:.2f} ms median)")
    print(f"{'server':28} {'clicks':>7} {'clicks/s':>9} {'ack p50':>9} {'ack p99':>9} {'CPU/click':>10} "
          f"{'load CPU':>9} {'update p50':>11} {'update p99':>11}")
    for name, r in results.items():
        print(f"{name:28} {r['clicks']:7d} {r['per_second']:9.0f} {r['ack_p50']:7.1f}ms {r['ack_p99']:7.1f}ms "
              f"{r['cpu_ms']:8.2f}ms {r['load_cpu_ms']:7.2f}ms "
              + (f"{r['update_p50']:9.1f}ms {r['update_p99']:9.1f}ms" if r["update_p50"] == r["update_p50"] else ""))
    print("(CPU/click: the server process; load CPU: this process, which makes the load and plays Slack, "
          + ("on a CPU of its own)" if args.server_cpu is not None else "on the same cores)"))
    ours, bare = results["infoshare serve (Slack)"], results["bare aiohttp handler"]
    floor = results.get("Bolt floor (ack + update)")
    if floor:
        share = ours["per_second"] / floor["per_second"]
        own = ours["cpu_ms"] - floor["cpu_ms"]
        print(f"Bolt floor / bare throughput: {floor['per_second'] / bare['per_second']:.2f}; "
              f"infoshare / Bolt floor: {share:.2f} "
              f"(issue 13's target >= 0.80: {'met' if share >= 0.8 else 'NOT met'}); "
              f"infoshare's own CPU a click (its CPU/click less the floor's): {own:.2f} ms "
              f"(target <= 0.50: {'met' if own <= 0.5 else 'NOT met'})")
    ratio = ours["per_second"] / bare["per_second"]
    print(f"infoshare / bare throughput: {ratio:.2f} (target >= 0.50: {'met' if ratio >= 0.5 else 'NOT met'}); "
          f"ack p99 {ours['ack_p99']:.1f} ms (target < 100 ms: {'met' if ours['ack_p99'] < 100 else 'NOT met'})")


def serve_bare(port: int) -> None:
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200)
    app = web.Application()
    app.router.add_post("/slack/events", ok)
    app.router.add_get("/healthz", ok)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def serve_floor(port: int, api_url: str) -> None:
    """The least any Bolt app must do per click: verify, dispatch, ack, ``chat.update`` (no engine, no SQLite)."""
    import re
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    app = AsyncApp(token=TOKEN, signing_secret=SECRET)
    app.client.base_url = api_url

    @app.action(re.compile("."))
    async def click(ack, body):
        await ack()
        message = body["message"]
        await app.client.chat_update(channel=body["channel"]["id"], ts=message["ts"], text="the next question",
                                     blocks=message["blocks"])

    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    async def ok(request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def session(_app):
        app.client.session = aiohttp.ClientSession()  # one shared session, as infoshare has
        yield
        await app.client.session.close()

    web_app = web.Application()
    web_app.router.add_post("/slack/events", handle)
    web_app.router.add_get("/healthz", ok)
    web_app.cleanup_ctx.append(session)
    web.run_app(web_app, host="127.0.0.1", port=port, print=None, access_log=None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conversations", type=int, default=50)
    ap.add_argument("--clicks", type=int, default=40, help="clicks per conversation")
    ap.add_argument("--seconds", type=float, default=60, help="time limit per server")
    ap.add_argument("--think", type=float, default=0.0,
                    help="mean seconds a user waits before the next click (default 0: click as fast as possible)")
    ap.add_argument("--db-dir", default=None,
                    help="where the server's SQLite file goes (default: the system temp dir); /dev/shm takes "
                         "the disk's fsync time out of the figures")
    ap.add_argument("--rounds", type=int, default=0,
                    help="paired mode: infoshare and the Bolt floor both running, loaded in turn for this many "
                         "rounds of --clicks each (order swapped every round); reports the median paired ratio")
    ap.add_argument("--pin", action="store_true",
                    help="CPU isolation: this process (the load and the mock Slack API) on one CPU, each server "
                         "on another (Linux sched_setaffinity); the same one-core budget for every server")
    ap.add_argument("--serve-bare", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--serve-floor", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_floor:
        serve_floor(int(args.serve_floor[0]), args.serve_floor[1])
        return
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    args.client_cpu = args.server_cpu = None
    args.affinities = {}
    if args.pin:  # before the event loop and before any server starts: every thread here inherits it
        args.client_cpu, args.server_cpu = pin_cpus()
        os.sched_setaffinity(0, {args.client_cpu})
    asyncio.run(bench_rounds(args) if args.rounds else bench(args))


if __name__ == "__main__":
    main()
