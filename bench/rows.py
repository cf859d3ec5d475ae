"""The report's rows, phase by phase, in the order the table shows them.

A row is a label, a value, a target and whether it was met (None: a figure
without a target). Each function reads one phase's results; a phase that
older results lack (logins, tls, the own list) gives no rows.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    label: str
    value: str
    target: str = ""
    met: bool | None = None

    def markdown(self) -> str:
        verdict = "" if self.met is None else "met" if self.met else "**missed**"
        cells = (self.label, self.value, self.target, verdict)
        return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def fmt_range(value: dict, digits: int = 1) -> str:
    return f"{value['median']:.{digits}f} ({value['min']:.{digits}f}-{value['max']:.{digits}f})"


def spread(values: list[float], digits: int = 0) -> str:
    """The range of a figure's runs, as (min-max); empty for a single run."""
    if len(values) < 2:
        return ""
    return f" ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def idle(p: dict) -> list[Row]:
    rss, floor = p["idle"]["rss_mib"], p["idle"]["floor_rss_mib"]
    return [
        Row("idle RSS after the first /health (one worker), MiB", fmt_range(rss), "<= 60", rss["median"] <= 60),
        Row("floor: FastAPI + SQLAlchemy + asyncpg + uvicorn alone (`bench/import_floor.py`), MiB", fmt_range(floor)),
    ]  # fmt: skip


def routers(p: dict) -> list[Row]:
    r = p["routers"]
    rss, runs = r["idle_rss_mib"], r["idle_rss_runs"]
    return [
        Row(
            f"idle RSS with {r['routers']} more routers of {r['models_per_router']} models, eager",
            f"{rss['eager']:.1f}{spread(runs['eager'], 1)} MiB (the routers cost {r['routers_cost_mib']:.1f} MiB over the service without them: {rss['none']:.1f}{spread(runs['none'], 1)})",
        ),
        Row(
            "the same, lazy (LAZY_ROUTERS=true)",
            f"{rss['lazy']:.1f}{spread(runs['lazy'], 1)} MiB: saves {r['lazy_saves']:.0%} of what the routers cost",
            ">= 70%",
            r["lazy_saves"] >= 0.7,
        ),
        Row(
            "first request to a lazy router (imports it)",
            f"{r['lazy_first_request_ms']:.1f} ms (eager: {r['eager_first_request_ms']:.1f} ms; later requests {r['lazy_later_request_ms']:.1f} ms)",
        ),
    ]


def _list_rows(lists: dict, name: str) -> list[Row]:
    lst = lists[name]
    svc, flr, stack, runs = lst["service"], lst["floor"], lst["stack"], lst["runs"]
    label = f"list of {name.split()[-1]} ({'own' if 'own' in name else 'admin'})"

    def over(system: str, key: str, digits: int = 0) -> str:
        return spread([r[key] for r in runs[system]], digits)

    return [
        Row(
            f"{label}, every default on, wrk c={lists['connections']} {lists['seconds']:.0f} s: req/s",
            f"{svc['rps']:,.0f}{over('service', 'rps')} vs stack floor {stack['rps']:,.0f}{over('stack', 'rps')} ({lst['stack_rps_ratio']:.2f}x) and Starlette floor {flr['rps']:,.0f}{over('floor', 'rps')} ({lst['rps_ratio']:.2f}x)",
            ">= 0.8x the stack floor",
            lst["stack_rps_ratio"] >= 0.8,
        ),
        Row(
            f"{label}: p50 / p95 / p99 ms",
            f"{svc['p50_ms']:.1f} / {svc['p95_ms']:.1f} / {svc['p99_ms']:.1f}{over('service', 'p99_ms', 1)} vs stack floor {stack['p50_ms']:.1f} / {stack['p95_ms']:.1f} / {stack['p99_ms']:.1f} and Starlette floor {flr['p50_ms']:.1f} / {flr['p95_ms']:.1f} / {flr['p99_ms']:.1f} (p99 {lst['p99_ratio']:.2f}x)",
            "p99 <= 4x the Starlette floor's",
            lst["p99_ratio"] <= 4,
        ),
        Row(
            f"{label}: CPU per request, ms",
            f"{svc['cpu_ms_per_request']:.2f} vs stack floor {stack['cpu_ms_per_request']:.2f} and Starlette floor {flr['cpu_ms_per_request']:.2f}",
            "<= 1.5",
            svc["cpu_ms_per_request"] <= 1.5,
        ),
        Row(
            f"{label}: peak RSS under load, MiB",
            f"{svc['peak_rss_mib']:.1f} vs stack floor {stack['peak_rss_mib']:.1f} and Starlette floor {flr['peak_rss_mib']:.1f}",
        ),
    ]


def lists(p: dict) -> list[Row]:
    lists = p["lists"]
    # Results from before the own list was measured lack it.
    rows = [
        row for name in ("10", "50", "own 50") if name in lists for row in _list_rows(lists, name)
    ]
    export = lists["floor_export"]
    rows.append(
        Row(
            f"floor: the same {lists['rows']:,} rows exported buffered (fetch all, one JSON document)",
            f"{export['seconds']:.2f} s, peak RSS growth {export['peak_rss_growth_mib']:.0f} MiB",
        )
    )
    return rows


def ab(p: dict) -> list[Row]:
    rows = []
    for workers in (1, 2):
        run = p["ab"][f"{workers}_workers"]
        rows.append(
            Row(
                f"`ab -n 1000 -c 50` on the caller's own list of 50 (one token: `RATE_LIMIT_DEFAULT` raised for the test), {workers} worker{'s' if workers > 1 else ''}: success, p95",
                f"{run['success_rate']:.0%}, {run['p95_ms']:.0f} ms",
                "100%, p95 <= 300 ms",
                run["success_rate"] == 1 and run["p95_ms"] <= 300,
            )
        )
    return rows


def success_metrics(p: dict) -> list[Row]:
    if "success_metrics" not in p:
        return []
    m, rows = p["success_metrics"], []
    for workers, label in ((1, "one worker on its own core"), (2, "`serve --workers 2`")):
        run = m[f"{workers}_workers"]
        lat, own = run["latency_ms"], run["load_generator"]
        memory = ", ".join(f"{w['average_mib']:.1f} ({w['peak_mib']:.1f})" for w in run["workers"])
        verdicts = run["verdicts"]
        rows.append(
            Row(
                f"`loadtest --users {m['users']} --duration {m['seconds']:g}`, default limits, {label}: requests, 429, 5xx; success; p50 / p95 / p99; RSS per worker, average (peak); MemoryErrors; the load generator",
                f"{run['requests']:,} ({run['requests_per_second']:.0f}/s), {run['rate_limited']} x 429, {run['server_errors']} x 5xx; {run['success_percent']:g}%; {lat['p50']:.0f} / {lat['p95']:.0f} / {lat['p99']:.0f} ms; {memory} MiB; {run['memory_errors']}; {own['cpu_percent']:.0f}% of a core, {own['peak_rss_mib']:.0f} MiB",
                "PASS x 4: >= 99.9%, p95 <= 2,000 ms, <= 400 MiB, 0 MemoryError",
                all(v == "PASS" for v in verdicts.values()) and len(verdicts) == 4,
            )
        )
    return rows


def recycling(p: dict) -> list[Row]:
    if "recycling" not in p:
        return []
    r = p["recycling"]

    def averages(workers: list[dict]) -> str:
        values = [w["average_mib"] for w in workers]
        return f"{min(values):.1f}-{max(values):.1f}" if values else "none"

    peak = max(w["peak_mib"] for w in r["first_workers"] + r["later_workers"])
    return [
        Row(
            f"`serve --workers 2`, max_requests {r['max_requests']:,} (jitter {r['jitter']}), `loadtest --users {r['users']} --rate 0` for {r['seconds']:g} s: recycles; requests; failed (of them with no answer)",
            f"{r['recycles']}; {r['requests']:,}; {r['failed']} ({r['no_answer']})",
            ">= 5 recycles, 0 failed",
            r["recycles"] >= 5 and r["failed"] == 0,
        ),
        Row(
            "RSS per worker under that load, average MiB: the first two; those that replaced them (peak of all)",
            f"{averages(r['first_workers'])}; {averages(r['later_workers'])} ({peak:.1f})",
        ),
    ]  # fmt: skip


def naive(p: dict) -> list[Row]:
    n = p["naive"]
    return [
        Row(
            f"peak RSS under load (wrk c={n['connections']}, {n['seconds']:.0f} s): service's page of 50 vs naive baseline's list of every row",
            f"{n['service']['peak_rss_mib']:.0f} MiB vs {n['naive']['peak_rss_mib']:.0f} MiB ({1 - n['peak_rss_ratio']:.0%} less)",
            ">= 50% less",
            n["peak_rss_ratio"] <= 0.5,
        ),
        Row(
            "naive baseline: one buffered export of every row, peak RSS growth",
            f"{n['naive_export_peak_growth_mib']:.0f} MiB (the service streams it: see the export rows)",
        ),
    ]


def guard(p: dict) -> list[Row]:
    guard = p["guard"]
    rows = []
    for name, label in (("health", "/health"), ("list", "a list of 10 (admin)")):
        g = guard[name]
        rows.append(
            Row(
                f"memory guard overhead on {label}, wrk c={guard['connections']}",
                f"{g['overhead']:.1%} ({g['rps_with']:,.0f}{spread(g['runs']['with'])} vs {g['rps_without']:,.0f}{spread(g['runs']['without'])} req/s without it)",
                "<= 3%",
                g["overhead"] <= 0.03,
            )
        )
    return rows


def workers(p: dict) -> list[Row]:
    w = p["workers"]
    count, runs = w["workers"], w["runs"]
    uvicorn = f"`uvicorn --workers {count}`"
    return [
        Row(
            f"{count} workers just started, total PSS: gunicorn, preload + warm-up + gc.freeze()",
            f"{w['booted_gunicorn_pss_mib']:.0f} MiB vs {w['booted_uvicorn_pss_mib']:.0f} MiB for {uvicorn} ({w['booted_gunicorn_pss_mib'] / w['booted_uvicorn_pss_mib']:.0%})",
        ),
        Row(
            f"{count} workers after {w.get('load_seconds', 5):.0f} s of load, total PSS: gunicorn, preload + warm-up + gc.freeze()",
            f"{w['gunicorn_pss_mib']:.0f}{spread([r['pss_mib'] for r in runs['gunicorn']])} MiB vs {w['uvicorn_pss_mib']:.0f}{spread([r['pss_mib'] for r in runs['uvicorn']])} MiB for {uvicorn} ({w['ratio']:.0%})",
            "<= 55%",
            w["ratio"] <= 0.55,
        ),
    ]


# The database's own COPY each format is held to, in that format
# (bench/database_floor.py). PostgreSQL's CSV writer is slower than its text
# writer, so the text COPY is shown beside the CSV target, not held to.
EXPORT_FLOORS = {"ndjson": ("json", "row_to_json COPY"), "csv": ("csv", "CSV COPY")}
EXPORT_CONTEXT = {"csv": ("text", "the text COPY")}


def _vs_copy(export: dict, floor: dict, kind: str) -> tuple[float, str]:
    """The export's rate over the COPY's, and how the two were compared: the
    COPYs run in turn with the export (bench/exports.py), or failing that the
    database_floor phase's; with a ratio per run, the median of those."""
    same_run = export.get(f"{kind}_copy", {})
    paired = same_run.get("export_ratio", {}).get("median")
    if paired:
        return paired, " (run in turn with it; median of the runs' ratios)"
    copy = same_run.get("rows_per_second") or floor[f"{kind}_rows_per_second"]
    return export["rows_per_second"] / copy, " (run in turn with it)" if same_run else ""


def _held_export(name: str, export: dict, floor: dict, fmt: str) -> Row:
    rate = export["rows_per_second"]
    kind, label = EXPORT_FLOORS[fmt]
    ratio, how = _vs_copy(export, floor, kind)
    context = ""
    if fmt in EXPORT_CONTEXT:
        other, other_label = EXPORT_CONTEXT[fmt]
        context = f"; {_vs_copy(export, floor, other)[0]:.3f}x {other_label}"
    # The database's share: the service's own COPY run alone.
    own = f"service_{fmt}"
    alone = ""
    if f"{own}_copy" in export or f"{own}_rows_per_second" in floor:
        alone = f"; {_vs_copy(export, floor, own)[0]:.2f}x its own COPY alone"
    return Row(
        f"export {name}: rows/s, and vs PostgreSQL's {label} of the same rows{how}",
        f"{rate:,.0f} ({ratio:.3f}x{context}{alone})",
        ">= 0.9x",
        ratio >= 0.9,
    )


def exports(p: dict) -> list[Row]:
    rows = []
    floor = p.get("database_floor", {})
    for name, export in p["exports"].items():
        fmt = name.split()[2]
        # The targets are the million-row exports' without compression;
        # the others are context.
        if name.startswith("1,000,000 rows") and not name.endswith("gzip") and fmt in EXPORT_FLOORS:
            rows.append(_held_export(name, export, floor, fmt))
        else:
            rows.append(Row(f"export {name}: rows/s", f"{export['rows_per_second']:,.0f}"))
        growth = export["peak_rss_growth_mib"]
        rows.append(
            Row(
                f"export {name}: peak RSS growth, MiB (median, range)",
                fmt_range(growth),
                "<= 10",
                growth["max"] <= 10,
            )
        )
    return rows


def database_floor(p: dict) -> list[Row]:
    floor = p["database_floor"]
    return [
        Row("floor: PostgreSQL's own COPY of the same rows as JSON (row_to_json)", f"{floor['json_rows_per_second']:,.0f} rows/s"),
        Row("floor: PostgreSQL's own COPY of the same rows as text", f"{floor['text_rows_per_second']:,.0f} rows/s"),
        *([Row("floor: PostgreSQL's own COPY of the same rows as CSV", f"{floor['csv_rows_per_second']:,.0f} rows/s")]
          if "csv_rows_per_second" in floor else []),
        *([Row("PostgreSQL's text COPY of the same rows with one replace() per timestamp (the least any reformatting costs)",
               f"{floor['text_one_replace_rows_per_second']:,.0f} rows/s ({floor['text_one_replace_rows_per_second'] / floor['text_rows_per_second']:.2f}x the text COPY)")]
          if "text_one_replace_rows_per_second" in floor else []),
        *([Row("the database's share: PostgreSQL running the service's own COPY of its CSV / NDJSON export (values formatted as the API's), alone",
               f"{floor['service_csv_rows_per_second']:,.0f} / {floor['service_ndjson_rows_per_second']:,.0f} rows/s")]
          if "service_csv_rows_per_second" in floor else []),
    ]  # fmt: skip


def deep_page(p: dict) -> list[Row]:
    deep = p["deep_page"]
    return [
        Row("first page of 50 (admin list)", f"{deep['first_page_ms']:.2f} ms"),
        Row(
            f"keyset page at depth {deep['depth']:,}",
            f"{deep['keyset_deep_ms']:.2f} ms ({deep['keyset_over_first']:.2f}x first page)",
            "<= 1.2x",
            deep["keyset_over_first"] <= 1.2,
        ),
        Row(
            f"offset page at depth {deep['depth']:,} (for comparison)",
            f"{deep['offset_deep_ms']:.2f} ms ({deep['offset_over_first']:.2f}x first page)",
        ),
    ]


def upload(p: dict) -> list[Row]:
    up = p["upload"]
    growth = up["peak_rss_growth_mib"]
    return [
        Row(f"upload {up['size_mib']:,} MiB: throughput", f"{up['mib_per_second']:.0f} MiB/s"),
        Row(
            f"upload {up['size_mib']:,} MiB: peak RSS growth, MiB (median, range)",
            fmt_range(growth),
            "<= 10",
            growth["max"] <= 10,
        ),
    ]


def logins(p: dict) -> list[Row]:
    if "logins" not in p:
        return []
    logins = p["logins"]
    bounded, unbounded, clients = logins["bounded"], logins["unbounded"], logins["clients"]
    target = logins["target_growth_mib"]
    return [
        Row(
            f"{clients} logins at once, one worker, PASSWORD_HASH_CONCURRENCY={bounded['concurrency']}: peak RSS growth, success, p95",
            f"{bounded['growth_mib']:.0f} MiB, {bounded['succeeded']}/{clients}, {bounded['p95_ms']:,.0f} ms",
            f"<= {target} MiB",
            bounded["growth_mib"] <= target,
        ),
        Row(
            f"the same burst with the bound lifted ({unbounded['concurrency']}): peak RSS growth, success, p95",
            f"{unbounded['growth_mib']:.0f} MiB, {unbounded['succeeded']}/{clients}, {unbounded['p95_ms']:,.0f} ms",
        ),
    ]


def tls(p: dict) -> list[Row]:
    if "tls" not in p:
        return []
    tls = p["tls"]
    return [
        Row(
            f"worker RSS per open database connection ({tls['connections']} at once): plain / TLS (verify-full)",
            f"{fmt_range(tls['plain_kib'], 0)} / {fmt_range(tls['tls_kib'], 0)} KiB",
        )
    ]


def _answers(statuses: dict) -> str:
    """{"413": 8} as "8 x 413"; 0 stands for a connection ended with no answer."""
    return ", ".join(
        f"{count} x {code if code != '0' else 'no answer'}"
        for code, count in sorted(statuses.items())
    )


def _all_4xx(statuses: dict) -> bool:
    return all(400 <= int(code) < 500 for code in statuses)


def front_door(p: dict) -> list[Row]:
    if "front_door" not in p:
        return []
    f = p["front_door"]
    bursts, slow, conns = f["bursts"], f["slow_bodies"], f["connections"]
    sized, chunked = bursts["anonymous_13mib_sized"], bursts["anonymous_13mib_chunked"]
    worst, parsed = bursts["signed_in_at_json_limit"], bursts["signed_in_parsed_at_limit"]
    settled = [b["settled_after_s"] for b in (sized, chunked, worst, parsed)]
    others = slow["others"]
    no_5xx = all(int(code) < 500 for code in slow["statuses"])
    exports, redis = f["stalled_exports"], f["redis_freeze"]
    ended = exports["stalled_ended_after_s"]
    return [
        Row(
            "8 anonymous 13 MiB bodies at once (unknown route, sign-up off, login form): peak RSS growth with Content-Length / chunked; answers",
            f"{sized['peak_growth_mib']:.1f} / {chunked['peak_growth_mib']:.1f} MiB; {_answers(sized['statuses'])} / {_answers(chunked['statuses'])}",
            "<= 20 MiB, every answer 4xx",
            max(sized["peak_growth_mib"], chunked["peak_growth_mib"]) <= 20 and _all_4xx(sized["statuses"]) and _all_4xx(chunked["statuses"]),
        ),
        Row(
            "8 signed-in JSON bodies at the 1 MiB limit at once, worst structure `[{},{},...]`: peak RSS growth; answers",
            f"{worst['peak_growth_mib']:.1f} MiB; {_answers(worst['statuses'])}",
            "<= 10x the limit each (80 MiB)",
            worst["peak_growth_mib"] <= 80,
        ),
        Row(
            "8 signed-in JSON bodies at the limit within the value bound (strings Python keeps at 4 bytes a character), parsed at once: peak RSS growth",
            f"{parsed['peak_growth_mib']:.1f} MiB; {_answers(parsed['statuses'])}",
            "<= 10x the limit each (80 MiB)",
            parsed["peak_growth_mib"] <= 80,
        ),
        Row("a JSON body one byte over the limit: the answer to its head alone", str(bursts["one_over_json_limit"]), "413 before parsing", bursts["one_over_json_limit"] == 413),
        Row(
            "after each burst: RSS back within 10 MiB of where it started",
            "after " + " / ".join("never (5 s)" if s is None else f"{s:.1f} s" for s in settled),
            "within 5 s",
            all(s is not None for s in settled),
        ),
        Row(
            f"{slow['slow_bodies']:,} bodies trickling from one address (a byte every 5 s) for {slow['seconds']:.0f} s: answers; another client's list meanwhile",
            f"{_answers(slow['statuses'])}, cut after {slow['cut_after_s_median']} s; list p99 {others['p99_ms']:.0f} ms, {others['errors']} errors",
            "0 x 5xx, p99 < 1 s, the slow ones cut",
            no_5xx and others["p99_ms"] < 1000 and others["errors"] == 0 and "408" in slow["statuses"],
        ),
        Row(
            f"{conns['connections']:,} connections against a {conns['open_files']:,} open-file limit, a list asked on each: answers",
            _answers(conns["statuses"]),
            "0 x 500, the excess 503 or queued",
            "500" not in conns["statuses"] and "0" not in conns["statuses"],
        ),
        Row(
            f"one user stalls 4 exports (EXPORT_STALL_SECONDS={exports['stall_seconds']}): another user's export; the stalled ones; their database connections",
            f"{exports['other_user_status']} after {fmt_range(exports['other_user_first_byte_ms'], 0)} ms; ended after {'never' if ended is None else fmt_range(ended) + ' s'}; {exports['connections_left']} left in a transaction",
            "200 at once, ended within the stall time (+1 s), 0 left",
            exports["other_user_status"] == 200 and exports["connections_left"] == 0 and ended is not None and ended["max"] <= exports["stall_seconds"] + 1,
        ),
        Row(
            f"Redis frozen {redis['freeze_seconds']:.0f} s under load (rate limits on Redis): list p50 frozen / normal",
            f"{redis['p50_frozen_ms']:.1f} / {redis['p50_normal_ms']:.1f} ms ({redis['ratio']:.2f}x), {redis['errors']} errors, recovery {'logged' if redis['recovered_logged'] else '**not logged**'}",
            f"<= {redis['bound']:g}x, recovery logged",
            redis["ratio"] <= redis["bound"] and redis["recovered_logged"] and redis["errors"] == 0,
        ),
    ]  # fmt: skip


def rate_counters(p: dict) -> list[Row]:
    if "rate_counters" not in p:
        return []
    r = p["rate_counters"]
    ours, theirs = r["local_counters"], r["limits_memory"]
    clients = list(ours)

    def by_clients(figures: dict) -> str:
        return " / ".join(f"{figures[n]:,.1f}" for n in clients)

    counted = " / ".join(f"{int(n):,}" for n in clients)
    return [
        Row(
            f"one rate-limit hit in a worker's own counters, us, with {counted} clients counted: `local_counters.py` (limits' async MemoryStorage)",
            f"{by_clients(ours)} ({by_clients(theirs)})",
            f"flat: {int(clients[-1]):,} clients <= {r['bound']:g}x one",
            ours[clients[-1]] <= r["bound"] * ours[clients[0]],
        )
    ]  # fmt: skip


def soak(p: dict) -> list[Row]:
    if "soak" not in p:
        return []
    s = p["soak"]
    lat, own = s["latency_ms"], s["load_generator"]
    slope, target = s["rss_slope_mib_per_100k"], s["target_mib_per_100k"]
    return [
        Row(
            f"soak: one worker, never recycled, `loadtest` (every resource: lists, pages, reads, creates, updates, deletes, exports; {s.get('users', 16)} users back to back) for {s['seconds'] / 60:.0f} min: requests, 5xx, p50 / p95 / p99",
            f"{s['requests']:,} ({s['requests_per_second']:,.0f}/s), {s['server_errors']} x 5xx, {lat['p50']:.0f} / {lat['p95']:.0f} / {lat['p99']:.0f} ms; the load generator {own['cpu_percent']:.0f}% of a core, {own['peak_rss_mib']:.0f} MiB",
            ">= 250,000 requests, 0 x 5xx",
            s["requests"] >= 250_000 and s["server_errors"] == 0,
        ),
        Row(
            "soak: RSS slope over the second half, MiB per 100,000 requests (RSS first / last / peak; PSS slope)",
            f"{slope:+.2f} ({s['rss_first_mib']:.1f} / {s['rss_last_mib']:.1f} / {s['rss_peak_mib']:.1f} MiB; PSS {s['pss_slope_mib_per_100k']:+.2f})",
            f"<= {target}",
            slope <= target,
        ),
    ]  # fmt: skip


SECTIONS = (
    idle, routers, lists, ab, success_metrics, recycling, naive, guard, workers, exports, database_floor, deep_page, upload, logins, rate_counters, tls, front_door, soak,
)  # fmt: skip
