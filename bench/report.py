"""Renders bench/RESULTS.md from the figures: a table against the targets, the machine, what it means, the profile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PROFILE_START = "<!-- profile:start -->"
PROFILE_END = "<!-- profile:end -->"
KB = 1024


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    lat, con, hist = r["latency"], r["concurrency"], r["history"]
    steps, n = lat["engine_steps_per_run"], con["concurrency"]
    children = lat.get("engine_children", [])
    top = steps - sum(children)
    shape = f"{top} chained + {len(children)} child workflows of {'/'.join(map(str, children))}"
    rows = [
        (f"engine: time per agent step (greenfield-service, {steps} steps: {shape}; median of "
         f"{r['params']['rounds']})", f"{lat['engine_step_ms']:.1f} ms", "", ""),
        (f"bare Temporal, the same shape ({shape} no-op activities)", f"{lat['bare_shaped_step_ms']:.1f} ms", "", ""),
        ("step time ratio engine ÷ bare (same shape)", f"{lat['step_time_ratio']:.2f}", "≤ 1.2",
         _yes(lat["step_time_ratio"] <= 1.2)),
        (f"bare Temporal: time per no-op activity (plain chain of {steps})", f"{lat['bare_step_ms']:.1f} ms", "", ""),
        ("step time ratio engine ÷ plain chain (the gap is what the child workflows cost Temporal)",
         f"{lat['step_time_ratio_plain_chain']:.2f}", "", ""),
    ]
    lin = lat.get("linear")
    if lin:
        rows += [
            (f"engine: time per agent step ({lin['workflow']}, {lin['steps']} steps, no repeats)",
             f"{lin['engine_step_ms']:.1f} ms", "", ""),
            (f"bare Temporal: plain chain of {lin['steps']}", f"{lin['bare_step_ms']:.1f} ms", "", ""),
            ("step time ratio engine ÷ bare, no repeats", f"{lin['step_time_ratio']:.2f}", "≤ 1.2",
             _yes(lin["step_time_ratio"] <= 1.2)),
        ]
    rows += _shape_rows(lat.get("shapes") or {})
    un = r.get("unthrottled")
    if un:
        key, value = next(iter(un["dynamic_config"].items()))
        rows += [
            (f"unthrottled dispatch (`{key}={value}`): engine / bare same shape / plain chain, per step "
             f"(greenfield-service)", f"{un['engine_step_ms']:.1f} / {un['bare_shaped_step_ms']:.1f} / "
             f"{un['bare_step_ms']:.1f} ms", "", ""),
            ("unthrottled dispatch: step time ratio engine ÷ bare (same shape) / engine ÷ plain chain",
             f"{un['step_time_ratio']:.2f} / {un['step_time_ratio_plain_chain']:.2f}", "", ""),
            (f"unthrottled dispatch: engine / bare per step, {un['linear']['workflow']} (no repeats); ratio",
             f"{un['linear']['engine_step_ms']:.1f} / {un['linear']['bare_step_ms']:.1f} ms; "
             f"{un['linear']['step_time_ratio']:.2f}", "", ""),
        ]
    rows += [
        (f"engine: {n} concurrent quick-fix runs ({con['concurrent_steps_per_run']} steps each)",
         f"{con['engine_concurrent_steps_per_s']:.1f} steps/s", "", ""),
        (f"bare Temporal: {n} concurrent chains of {con['concurrent_steps_per_run']}",
         f"{con['bare_concurrent_steps_per_s']:.1f} steps/s", "", ""),
        (f"throughput ratio engine ÷ bare (median of {con['rounds']} rounds: "
         f"{', '.join(f'{x:.2f}' for x in con['throughput_ratio_per_round'])})",
         f"{con['throughput_ratio']:.2f}", "≥ 0.8", _yes(con["throughput_ratio"] >= 0.8)),
        (f"engine shell: the same {n} runs with the agent step a no-op (interpreter, bookkeeping, Temporal)",
         f"{con['shell_concurrent_steps_per_s']:.1f} steps/s", "", ""),
        (f"throughput ratio engine shell ÷ bare (rounds: "
         f"{', '.join(f'{x:.2f}' for x in con['shell_throughput_ratio_per_round'])})",
         f"{con['shell_throughput_ratio']:.2f}", "", ""),
    ]
    per_step = [h["history_bytes_per_step"] for h in hist.values()]
    flat = max(per_step) <= 1.1 * min(per_step)
    for label, h in hist.items():
        rows.append((
            f"history bytes per agent step, {label} document (output {h['output_bytes'] / KB:,.1f} KiB, "
            f"input {h['input_bytes'] / KB:,.1f} KiB)",
            f"{h['history_bytes_per_step']:,.0f} B", "≤ 2 KiB", _yes(h["history_bytes_per_step"] <= 2 * KB)))
    rows.append(("history bytes per step flat across sizes (max ≤ 1.1 × min)",
                 f"{min(per_step):,.0f}–{max(per_step):,.0f} B", "flat", _yes(flat)))
    for label, h in hist.items():
        rows.append((f"whole history of the single-step run, {label} document",
                     f"{h['history_bytes_total']:,} B", "", ""))
    rows += [
        ("whole greenfield history (run + iteration children) ÷ agent steps",
         f"{lat['greenfield_history_bytes_per_step']:,.0f} B", "", ""),
        (f"validate the bmad-method v4 core (load + validate, median of {r['params']['validate_repeats']})",
         f"{r['validate']['validate_bmad_v4_ms']:.0f} ms", "", ""),
        ("process RSS before / after the concurrent engine runs",
         f"{con['rss_mb_before']:.0f} / {con['rss_mb_after']:.0f} MiB", "", ""),
        ("RSS growth per 100 runs", f"{con['rss_mb_per_100_runs']:.1f} MiB", "", ""),
    ]
    w = r.get("store_writes")
    if w:
        rows.append(("a step's database writes: 9 transactions (first design) → 2 (now)",
                     f"{w['nine_transactions_ms']:.2f} → {w['two_transactions_ms']:.2f} ms "
                     f"(−{w['saved_share']:.0%})", "", ""))
    api = r.get("api")
    if api:
        rows += _api_rows(api)
    if r.get("providers"):
        rows += _provider_rows(r["providers"])
    return rows


def _shape_rows(shapes: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Issue 16's target per workflow shape: engine ÷ plain chain of bare activities, median of per-round ratios
    with their spread."""
    rows = []
    for name, v in shapes.items():
        sp = v["ratio_spread"]
        rows.append((f"shape {name} ({v['steps']} steps): engine / plain chain per step, median of {v['rounds']} "
                     f"rounds; ratio (per-round ratios p25–p75, min–max)",
                     f"{v['engine_step_ms']:.1f} / {v['bare_step_ms']:.1f} ms; {v['ratio']:.2f} "
                     f"({sp['p25']:.2f}–{sp['p75']:.2f}, {sp['min']:.2f}–{sp['max']:.2f})", "≤ 1.2",
                     _yes(v["ratio"] <= 1.2)))
    tl = (shapes.get("no-loop") or {}).get("timeline")
    if tl and "engine" in tl and "bare" in tl:
        e, b = tl["engine"], tl["bare"]
        rows.append(("shape no-loop, where a run's time goes, engine vs bare (medians, ms): start → first step / "
                     "steps / between steps / last step → end / outside the history (launch, result)",
                     " / ".join(f"{e[k]:.0f} vs {b[k]:.0f}" for k in
                                ("head_ms", "in_activities_ms", "between_ms", "tail_ms", "outside_ms")), "", ""))
    return rows


def _api_rows(api: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The loads side by side in each cell (off · on · on with commits landing); the target is issue 16's: the
    auth-on p99 of the read-only load (the one with commits landing is shown beside it, with no target)."""
    off, on, writing = api.get("auth_off", api), api.get("auth_on"), api.get("auth_on_writing")
    loads = [x for x in (off, on, writing) if x]

    def each(fmt: Any) -> str:
        return " · ".join(fmt(x) for x in loads)

    names = ["auth off"] + (["auth on (a viewer token of `botarmy token create`)"] if on else []) + (
        [f"auth on with {writing['writes_per_s']:.0f} commits/s landing"] if writing else [])
    label = " · ".join(names)
    worst = (on or off)["p99_ms"]
    rows = [
        (f"API: {off['clients']} concurrent clients on GET endpoints ({off['requests']} requests a load, "
         f"{off.get('workers', 1)} server process(es)), {label}: p50", each(lambda x: f"{x['p50_ms']:.1f} ms"),
         "", ""),
        (f"API: p99, {label}", each(lambda x: f"{x['p99_ms']:.1f} ms"),
         "≤ 50 ms" + (" (auth on, no commits)" if on else ""), _yes(worst <= 50)),
        ("API: throughput / server errors (401/403 count), each load",
         each(lambda x: f"{x['requests_per_s']:.0f} req/s / {x['server_errors']}"), "0 errors",
         _yes(all(x["server_errors"] == 0 for x in loads))),
    ]
    if "server_cpu_ms_per_request" in off:
        rows.append(("API: server CPU per request (both processes, from /proc) / load average (1 min) at the "
                     "start, each load", each(lambda x: f"{x['server_cpu_ms_per_request']:.2f} ms / "
                                                        f"{x['load_average_1m']:.1f}"), "", ""))
    def route(name: str) -> str:
        return each(lambda x: f"{x['by_endpoint'][name]['p50_ms']:.1f} / {x['by_endpoint'][name]['p99_ms']:.1f} ms")

    rows += [(f"API p50 / p99: {name}, each load", route(name), "", "") for name in off["by_endpoint"]]
    return rows


def _provider_rows(p: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rl = p["rate_limit"]
    lag = (f"{rl['release_lag_ms_median']:.0f} / {rl['release_lag_ms_max']:.0f} ms"
           if rl["queued_requests"] else "none queued")
    rows = [
        (f"providers: {rl['runs']} one-step runs at once, fake limited to {rl['rpm']} requests/min (sliding "
         f"minute), {rl['latency_s']:g} s per answer: failed steps ({rl['completed']}/{rl['runs']} runs completed, "
         f"{rl['wall_s']:.0f} s)", str(rl["failed_steps"]), "0", _yes(rl["failed_steps"] == 0)),
        ("providers: 429s the rate-limited fake returned / step retries", f"{rl['rate_limited_429']} / "
         f"{rl['retries']}", "0 429s", _yes(rl["rate_limited_429"] == 0)),
        (f"providers: used rate ({rl['accepted_requests']} accepted requests over first-to-last arrival "
         f"{rl['first_to_last_arrival_s']:.1f} s + one window; best possible {rl['best_possible_share']:.0%})",
         f"{rl['used_rpm']:.1f}/min = {rl['used_share']:.1%} of {rl['rpm']}", "≥ 90 %", _yes(rl["used_share"] >= 0.9)),
        (f"providers: arrival spread of the first {rl['rpm']} requests (released together) / {rl['queued_requests']} "
         "queued requests' arrival after their window opened, median / max", f"{rl['burst_spread_ms']:.0f} ms / {lag}",
         "", ""),
    ]
    f = p.get("faults")
    if f:
        kinds = ", ".join(f"{k} {n}" for k, n in f["faults_by_kind"].items())
        rows += [
            (f"providers: {f['runs']} two-step runs at once, {f['fault_rate']:.0%} of requests faulted at random "
             f"(seed {f['seed']}; {f['retry_max_attempts']} attempts, client timeout {f['client_timeout_s']:g} s): "
             f"runs completed", f"{f['completed']}/{f['runs']}", "all", _yes(f["completed"] == f["runs"])),
            (f"providers: fault phase: fake-counted calls / faults injected ({kinds})",
             f"{f['fake_calls']} / {f['faults_injected']} ({f['faults_injected_share']:.0%})", "", ""),
            ("providers: fault phase: step attempts / retries / failed steps",
             f"{f['attempts']} / {f['retries']} / {f['failed_steps']}", "", ""),
        ]
    return rows


def _profile_section(r: dict[str, Any]) -> str:
    p = r["profile"]
    lines = [
        f"Profiled {p['runs']} greenfield-service runs in-process ("
        "`.venv/bin/python -m bench.run --profile`; HTML in `bench/out/profile.html`). Shares are of busy "
        f"samples ({p['all_threads_busy_samples']} over all threads) or of pyinstrument's wall time (event loop).",
        "",
        "Our code, inclusive, all threads (workflow tasks, activities, store threads):",
        "",
        "| function | share of busy samples |",
        "|---|---|",
        *[f"| `{x['function']}` | {x['share']:.1%} |" for x in p["all_threads_our_code_inclusive"]],
        "",
        "Self time, all threads:",
        "",
        "| function | share of busy samples |",
        "|---|---|",
        *[f"| `{x['function']}` | {x['share']:.1%} |" for x in p["all_threads_self"]],
        "",
        "Self time on the event loop thread (pyinstrument):",
        "",
        "| function | share of wall time |",
        "|---|---|",
        *[f"| `{x['function']}` | {x['share']:.1%} |" for x in p["event_loop_self_time"]],
    ]
    return "\n".join(lines)


MEANING = """\
**What the figures mean.** *Time per agent step* is the wall time of one whole run divided by the agent steps the
store says actually ran, so it includes everything the engine adds around a step: the run bookkeeping (`start_run`,
`finish_run`, local activities inside the first and last workflow task), the iteration child workflows, the
store writes, building the prompt, and one AutoGen `AssistantAgent` run against the offline model. The bare
baselines are what Temporal alone costs on the same server, with the same worker options and pydantic converter:
no-op activities *in the run's own shape* (as many chained in the workflow as the run executed there, and one
child workflow per repeat iteration chaining that iteration's steps), and a *plain chain* of as many no-op
activities. Engine ÷ same shape is the price of the engine itself (the target row); engine ÷ plain chain adds what
child workflows cost in Temporal (each one is a start, a first workflow task and a completion the parent waits
for, about four dispatches). *No repeats* runs a workflow whose steps all live in the run workflow.
The *shape* rows are issue 16's target: plans of 3 plain steps, a loop of 2 iterations of 3 steps and a loop of 8
iterations of 1 step, each against a plain chain of as many bare activities, every round running all three shapes
with engine and baseline back to back (their order alternating per round); the ratio is the median of the per-round
ratios, shown with its spread. With a real model (seconds per call) all of this vanishes into the model's latency.

**Dispatch.** A Temporal server dispatches a ready workflow task from its history service's transfer queue, which
it reads at most `history.transferProcessorMaxPollRPS` = 20 times a second by default (every server, not only the
dev server): a workflow task waits up to 50 ms, and the history timestamps of both the engine and the baseline
show workflow tasks starting on a 50 ms beat. On such a server one agent step costs one dispatch, like a bare
activity, as long as the engine's own work for it fits in the beat. The *unthrottled dispatch* rows run the same
latency phase on a second dev server with that limit raised to 1000 reads/s, where a bare step costs a few ms of
CPU and the engine's own CPU per step (the agent step activity, larger workflow payloads) shows in full; they have
no target and are there so the default-server ratio is not mistaken for "free". *Throughput* starts N runs at once
and divides all executed steps by the wall time until the last one ends, in 3 rounds (engine, bare and shell
interleaved in each; medians reported). The *engine shell* is the same runs on a worker whose `agent_step` is a
no-op (`bench.baseline.shell_step`): the interpreter workflows, the run bookkeeping (two local activities writing
the run and step rows) and Temporal, without the steps' own work (the AutoGen agent run, the prompt, the store
writes of a step). Worker, server and driver share the 2 cores, so throughput measures CPU per step: the engine's
against the SDK's own for a no-op. *History bytes per
agent step* counts the protobuf bytes of the scheduled/started/completed events of each `agent_step` activity:
documents stay in the store and the history carries pointers (id, sha256, size), so the figure does not grow with
the document. The *whole history* rows include the run's fixed events (start, bookkeeping markers, completion).
*RSS* is this process (worker and driver), read from /proc/self/status.
The *API* rows start the real server (`botarmy serve --workers 2 --no-access-log`, one process per core, each
on its own SO_REUSEPORT socket so the kernel spreads the connections) and drive it from this process with 50
closed-loop clients, each on its own keep-alive connection with no pause between requests, 400 requests each
after a warm-up; every request is timed, and each 5xx or failed connection counts as an error. It runs three
times on fresh servers: with `BOTARMY_AUTH=off`; with auth on and every request carrying a viewer token made by
`botarmy token create` (a 401 or 403 counts as an error); and auth on again while this process commits 50 times
a second to the database (an event appended to one of the runs read, as a busy worker does). The run pages,
run lists and artifact lists are answered from a copy while the database's change stamp stands
(`api/views.py`: SQLite's `PRAGMA data_version`, PostgreSQL's current snapshot, read before each answer), so
the first two loads measure the copies and the third one the copies made again after every commit (the
requests that find the same answer being computed wait for it instead of computing it again); a running run's
page, which shows its workflow's state too, is never copied. With auth on a request's token is verified from a
per-process cache of token rows by secret hash (`store.identity.TokenCache`, a row trusted 5 s), not a query:
a revocation through the same process drops the row at once, one made elsewhere (`botarmy token revoke`,
the other server process) takes effect within those 5 s; `/health` is public and verifies nothing. The generator
is a minimal asyncio HTTP/1.1 client (~7 % of one core at 2,000 req/s, about what `wrk` costs); server and
generator share the 2 cores, so with a closed loop p50 ≈ clients ÷ throughput and the figures move with
anything else running on the machine."""


CHANGES = """\
What the profile showed and what we changed (each figure measured, not estimated):

- **A step's database writes** were nine separate write transactions (step started, its event, usage, the
  artifact, step finished, three completion events), each a `BEGIN IMMEDIATE` on SQLite's single writer and each
  event re-reading `max(seq)`. Now `start_step` and `complete_step` write the same rows in two transactions. The
  row *a step's database writes* above measures both paths in the same run.
- **Statements built once** (second session): a yappi CPU profile of 100 concurrent runs showed building
  SQLAlchemy statements and their cache keys, and ORM flushes, costing more than executing them. The write path now
  uses Core statements built once per dialect (bind parameters), executemany inserts, `INSERT ... RETURNING` for the
  artifact row, and one UPDATE for a finished step: `start_step` + `complete_step` went from 4.0 to 1.4 ms per step
  (measured with the activity run in a loop, SQLite).
- **Anomaly baseline**: every step ran a grouped query over all usage rows of its agent and model (1 ms, growing
  with the database). A worker now reads the latest steps once a minute and adds its own steps in between.
- **Thread hops**: the agent step crossed to a thread 9 times (each store call, each publish, the config); now 4.
  With the two changes above, the offline agent step activity went from 6.9 to 2.7 ms.
- **Run bookkeeping as local activities**: `start_run` and `finish_run` were activities, each a full dispatch
  (50 ms on a default server) and two extra workflow tasks per run; as local activities they run inside the
  workflow task that starts the first step / completes the run (guarded by `workflow.patched`, so runs started
  before replay unchanged). Greenfield per step: 105 → 96 ms; 100-run throughput ratio 0.56 → ~0.7 on its own
  (against the baseline as it was then; see the next point).
- **Sandbox pass-through**: Temporal's sandbox re-imported `workflows/run.py` for every new run and iteration
  child (3–5 ms of CPU each, measured by replaying a history 200 times); `workflows` and `bmad` are now passed
  through, as Temporal recommends for deterministic modules (the baseline's module likewise), and a source scan
  test keeps clocks, randomness and I/O out of `workflows/`.
- **The bare baseline was slower than bare Temporal**: its workflow module imported `botarmy.settings`, which the
  sandbox re-imported (with pydantic-settings) for every baseline run. With its module passed through like the
  engine's, the 100-run baseline went from 67 to 177 steps/s, so the earlier throughput ratios (0.56 at the start
  of this session) flattered the engine; the engine itself went from 38 to 86 steps/s over the changes above.
- **No workflow sandbox** (third session): with `workflows` and `bmad` passed through, the sandbox checked almost
  nothing of our code but still `exec`'d a source string for every activation and every payload (py-spy: ~15 % of
  the worker's GIL time under load). Workflows now run unsandboxed (`BOTARMY_WORKFLOW_SANDBOX=true` restores it,
  the baseline follows the same setting); the determinism scan and replays of every history under both runners
  guard the code. 100-run throughput ratio, sandboxed → unsandboxed, 3 rounds each, twice: 0.52 → 0.57; the shell
  0.68 → 0.80.
- **Two thread hops per step** (third session): the plan and input documents are read in the hop that marks the
  step running, and the provider/usage watching runs in the hop that stores the output (4 → 2 hops). No change
  above the noise in throughput (0.55–0.56 against 0.57), kept because it is less work per step.
- **Documents in memory by hash** (third session): a step read each input document with a query; the store now
  keeps up to 64 MiB of documents per process by sha256 (the pointer in the step's input carries it), filled when
  the worker writes or reads one, so a step reads what the step before it wrote without a query (py-spy: the
  input reads were ~15 % of the worker's store-thread time). Throughput moved within the noise (0.55–0.59).
- **Heartbeats**: the agent step sent a heartbeat as soon as it started; the first heartbeat now comes after one
  interval, which a dead worker is still detected within.
- **API**: the read path uses statements built once and plain rows; `serve --workers 2` gives each process its own
  SO_REUSEPORT socket (uvicorn's shared socket split 50 connections as unevenly as 50/0); 2 store threads per
  process instead of 6 (which thrashed SQLite's pool of 5 and the GIL); and the load generator is a light asyncio
  client instead of httpx, which took half the machine's CPU from the server it measured.
- **API under auth** (fourth session): with auth on, every request looked its token up in the database (a thread
  hop and a query). Token rows are now kept per process by secret hash for 5 s (`store.identity.TokenCache`,
  1,024 rows, unknown secrets never kept); `revoke` through the process drops them at once, and a read that raced
  a revocation is not cached (a generation counter). Servers from the tree before and after, alternated 3 times
  on the same database (50 clients, 2 processes, load 2–4.5): server CPU per request with auth on 4.33 → 3.23 ms,
  against 2.70 / 3.01 ms with auth off, so auth now costs what the noise does. The same profile showed
  `uuid.uuid4()` for each request id (os.urandom releases the GIL, and the loop then waited for a store thread to
  hand it back: ~15 % of the loop's py-spy samples); ids are now a per-process random prefix and a counter, with
  no change above the noise in CPU per request. What a GET costs otherwise is SQLite's own execution in the two
  store threads (a read transaction, 1–4 indexed queries, its rollback) and the GIL handed between them and the
  event loop: about 3 ms of CPU per request on this machine in this session, where `timeit sum(range(10000))`
  took 319 µs, two to three times what the same line takes on an idle modern core; with 50 closed-loop clients
  that is ~300 req/s and p50 ≈ 160 ms, so the 50 ms p99 target is out of reach of this machine as loaded, with
  auth on or off.
- **API: copies of GET answers** (seventh session): the run list, run pages and artifact lists are answered
  from a per-process copy while the database's change stamp stands (`api/views.py`, `store/stamp.py`: SQLite's
  `PRAGMA data_version` on a connection that never writes, a few µs on the loop's thread; PostgreSQL's
  `pg_current_snapshot()`, one round trip), keyed by path, query and the principal, behind the guard (every
  request is still signed in and checked). Requests that find the same answer being computed wait for it. The
  API phase alone on the quiet machine (`timeit sum(range(10000))` 118 µs), auth on: before, p99 51.0 ms at
  1,864 req/s and 0.88 ms of server CPU per request (2,000 requests); after, 7.4 ms at 13,850 req/s and 0.10 ms
  (20,000 requests). With 50 commits/s landing meanwhile: 14.4 ms, 10,360 req/s, 0.15 ms; without the shared
  computation the same load gave 49.5 ms, 2,148 req/s and 0.77 ms, since each commit made every copy stale for
  fifty clients at once.
- **Launch** (seventh session): every launch dumped the whole plan to JSON, dumped and hashed the model pin three
  times and inserted plan and pin again; a plan object's JSON, a pin's body and hash and the pin made from the
  same loaded providers config are now computed once, and the store inserts a plan or pin it stored once. The
  LLM-bound engine's CPU per step at 0 s latency moved within the noise (19.3 → 16.7–18.9 ms over five runs).
  A smaller pool of threads for workflow activations (1 instead of the SDK's one per slot) gave 17.2 against
  18.6 ms, within the noise, and was not kept: the SDK's deadlock detector counts the time an activation waits
  for a thread, so a slow replay would fail the activations queued behind it.
- **Shapes** (fourth session): three rounds per shape gave engine ÷ plain chain from 1.25 to 2.52 on a loaded
  machine. Each round now runs every shape, engine and baseline back to back in an order that alternates per
  round, 15 rounds by default, and the figure is the median of the per-round ratios with its spread. Seven such
  runs within 20 minutes on this machine (load 1.5–3.7) gave no-loop 1.09, 1.44, 1.26, 1.11, 1.12, 1.25, 1.10,
  loop 2×3 1.08–1.22 and loop 8×1 1.04–1.44: steadier than 3 rounds, still not steady on a shared machine, and
  the no-loop shape sits at the target's edge (the table shows the first; pacing the activity slots moved none
  of them: 1.11 / 1.25 unpaced against 1.12 / 1.10 paced, alternated). The no-loop
  runs' histories show what the engine adds per run (10 rounds, load 1.5, medians): the launch writes the run's
  row before starting the workflow (22 ms outside the history against 14 for the bare client), `start_run` in
  the first workflow task (start → first step 35 against 31 ms) and `finish_run` in the last (44 against 41 ms),
  about 15 ms in all; and per step the agent step's own work (an activity 17 against 8 ms: the offline model, the
  prompt, two store transactions). None is avoidable without giving up the run row before the workflow exists
  (the API answers with it) or the step's durable writes.
- Not changed, and why: the 50 ms dispatch beat is the server's default configuration, kept for the target rows
  because it is what deployments run; the child workflows of repeat iterations are the design (each iteration is
  its own durable workflow in the Web UI), and their cost is Temporal's, shown by the plain-chain row.
- Where the throughput gap is (third session, py-spy of the worker under 100 concurrent runs): the shell reaches
  ~0.8 of bare; the rest is each step's own work, about evenly the Temporal SDK's per-activation and per-payload
  conversion, the AutoGen agent (built and run per step), the prompt and output checks, and the step's two store
  transactions. Each is a few percent; none is a single large cost left to remove."""


PROVIDERS_MEANING = """\
*Providers* rows come from real OpenAI SDK clients against a fake OpenAI-compatible server on 127.0.0.1
(`bench/providers_load.py`; measured {date}). The rate-limit phase starts all runs at once on a worker whose
providers file sets `requests_per_minute` to the fake's limit; the fake answers 429 with Retry-After to any request
beyond its limit in the last 60 s, so every 429 counted is one our limiter let through. Both limits are sliding
windows, so a burst of up to N goes out at once and the rest waits for the window; the limit is set to half the
runs so the burst spans two windows. *Used rate* is the accepted requests divided by the time they held the
provider's windows (first to last arrival plus one window): no client that keeps the limit exceeds N by this
measure, and it reaches N only by releasing each queued request the moment the window opens (*best possible* is
below 100 % when the runs are not a multiple of N). The fault phase fails a share of all requests at random (500,
503, 429 with Retry-After 1 s, an answer slower than the client's timeout, an answer cut off at the token limit)
from a seeded generator drawn in arrival order; Temporal retries each step 1 s / 2 s / 4 s (Retry-After when given)
and a cut-off answer gets one re-ask first."""


def render(r: dict[str, Any], profile: str | None) -> str:
    m = r["machine"]
    table = "\n".join(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in _rows(r))
    meaning = MEANING
    from bench.scale import section

    scale = section(r)
    if r.get("providers"):
        meaning += "\n\n" + PROVIDERS_MEANING.format(date=r["providers"].get("measured", m["date"]))
    return f"""# BotArmy benchmark results

Regenerated by `make bench` (`.venv/bin/python -m bench.run`); raw figures in `bench/out/results.json`.

Machine: {m['nproc']} CPUs, Python {m['python']}, {m['platform']}; measured {m['date']};
database {r['params']['database']}, offline model, private `temporal server start-dev` (in memory).

| metric | value | target | met? |
|---|---|---|---|
{table}

{meaning}

{scale + chr(10) if scale else ""}## Changes and what they bought

{CHANGES}

## Profile

{PROFILE_START}
{profile or "Not profiled yet: run `.venv/bin/python -m bench.run --profile`."}
{PROFILE_END}
"""


def write_results_md(r: dict[str, Any], path: Path) -> None:
    """Regenerate RESULTS.md; without a new profile, keep the Profile section of the previous file."""
    profile = _profile_section(r) if "profile" in r else _previous_profile(path)
    path.write_text(render(r, profile))


def _previous_profile(path: Path) -> str | None:
    if not path.exists():
        return None
    text = path.read_text()
    if PROFILE_START not in text or PROFILE_END not in text:
        return None
    return text.split(PROFILE_START, 1)[1].split(PROFILE_END, 1)[0].strip() or None
