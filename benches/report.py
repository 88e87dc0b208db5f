#!/usr/bin/env python3
"""Writes BENCHMARKS.md from criterion's output of `cargo bench --bench storage --all-features`.

Usage: python3 benches/report.py [CRITERION_DIR [REPEAT_DIR ...]] > BENCHMARKS.md
(`benches/regenerate.sh` takes every run and calls this with them.)
Every figure is criterion's median time per operation; ratios compare backends measured in the
same run. REPEAT_DIRs are criterion outputs of further runs of the store groups
(`store_(upsert|new)-10000`) and of the Redis groups (`redis-10000/`), reported beside the main
run so the spread shows. Hand-written
notes about the run go in benches/run-notes.md, which is included when present. The plot of
durable writers is written to benches/durable_writers.svg. The token refresh section comes from
`cargo bench --bench refresh --all-features`, read from $REFRESH_CRITERION (default
target/criterion); the encryption section from `cargo bench --bench encryption --all-features`,
read from $ENCRYPTION_CRITERION (default target/criterion; several runs separated by ':'). The
million-session opens and memory come from the output of `cargo bench --bench reopen --all-features`
saved to the file $REOPEN_LOG (a plain program: each figure is one event).
"""
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
REPEATS = [Path(arg) for arg in sys.argv[2:]]
WRITERS = (1, 2, 4, 8, 16, 32, 64)
PLOT = Path(__file__).with_name("durable_writers.svg")
BACKENDS = ["memory", "sled-periodic", "sled-everywrite", "sqlite-wal-normal", "sqlite-wal-full", "redis", "redis-ours"]
# RedisSessionStorage against a bare redis-rs call plus the same parsing, and the most each may cost.
REDIS_VS_BARE = [("load", "GET", 1.3), ("store_upsert", "SET", 1.3), ("find_50", "MGET of the 50 keys", 1.5)]
OPERATIONS = ["load_hit", "load_miss", "store_upsert", "store_new", "delete", "find_by_shop_50"]


def median(group, function, root=None):
    path = (root or ROOT) / group / function / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"]


def fmt(ns):
    if ns is None:
        return "–"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def ratio(a, b):
    return "–" if a is None or b is None else f"{a / b:.2f}"


def sizes():
    found = set()
    for entry in ROOT.iterdir() if ROOT.exists() else []:
        match = re.fullmatch(r"load_hit-(\d+)", entry.name)
        if match:
            found.add(int(match.group(1)))
    return sorted(found)


def machine():
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    disk = subprocess.run(["df", "-h", "--output=source,fstype,size", "target"], capture_output=True, text=True).stdout.strip().splitlines()
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    return cpu, os.cpu_count(), disk[-1] if disk else "unknown", commit


def plot(writers):
    """An SVG of durable store latency (left) and throughput (right) against writers."""
    width, height, pad = 860, 340, 60
    panel = (width - 3 * pad) / 2
    xs = list(writers)
    series = {"sled-everywrite": ("#1f77b4", 0), "sqlite-wal-full": ("#d62728", 1)}
    import math

    def x_at(n, left):
        span = math.log2(max(xs)) or 1
        return left + panel * math.log2(n) / span

    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    for p_index, (title, value) in enumerate((("time per stored session (µs, log)", lambda ns: ns / 1e3),
                                              ("stores per second (log)", lambda ns: 1e9 / ns))):
        left = pad + p_index * (panel + pad)
        points = {name: [(n, value(writers[n][i])) for n in xs if writers[n][i]] for name, (_, i) in series.items()}
        values = [v for pts in points.values() for _, v in pts]
        lo, hi = math.log10(min(values)), math.log10(max(values))
        lo, hi = math.floor(lo), math.ceil(hi) if hi > lo else lo + 1

        def y_at(v):
            return height - pad - (height - 2 * pad) * (math.log10(v) - lo) / (hi - lo)

        svg.append(f'<text x="{left}" y="{pad - 25}">{title}</text>')
        svg.append(f'<line x1="{left}" y1="{height - pad}" x2="{left + panel}" y2="{height - pad}" stroke="black"/>')
        svg.append(f'<line x1="{left}" y1="{pad}" x2="{left}" y2="{height - pad}" stroke="black"/>')
        for n in xs:
            svg.append(f'<text x="{x_at(n, left):.1f}" y="{height - pad + 16}" text-anchor="middle">{n}</text>')
        svg.append(f'<text x="{left + panel / 2}" y="{height - pad + 34}" text-anchor="middle">writers</text>')
        for decade in range(lo, hi + 1):
            y = y_at(10 ** decade)
            svg.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + panel}" y2="{y:.1f}" stroke="#ddd"/>')
            svg.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{10 ** decade:g}</text>')
        for name, (color, _) in series.items():
            pts = " ".join(f"{x_at(n, left):.1f},{y_at(v):.1f}" for n, v in points[name])
            svg.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
            for n, v in points[name]:
                svg.append(f'<circle cx="{x_at(n, left):.1f}" cy="{y_at(v):.1f}" r="3" fill="{color}"/>')
    for index, (name, (color, _)) in enumerate(series.items()):
        svg.append(f'<rect x="{pad + index * 160}" y="{height - 16}" width="12" height="4" fill="{color}"/>')
        svg.append(f'<text x="{pad + index * 160 + 18}" y="{height - 10}">{name}</text>')
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def main():
    out = []
    cpu, cores, disk, commit = machine()
    fsync = median("disk", "write_4k_fdatasync")
    out.append("# Benchmarks\n")
    out.append("Generated by `benches/regenerate.sh`, which takes the runs named below one after "
               "the other and writes this file with `benches/report.py`. Each figure is criterion's "
               "median time per operation unless a section says otherwise; every backend in a table "
               "was measured in the same invocation, on the same disk.\n")
    out.append(f"- Machine: {cpu}, {cores} cores, {platform.system()} {platform.release()}")
    out.append(f"- Disk (filesystem, type, size): `{disk}`")
    out.append(f"- Disk's own durable write, 4 KiB `pwrite` + `fdatasync`: **{fmt(fsync)}**")
    out.append(f"- Report written at commit `{commit}` (the commits the runs were taken at are in the notes below)\n")
    out.append("Ratios are time ÷ time: above 1 is slower than the reference, below 1 faster.\n")
    notes = Path(__file__).with_name("run-notes.md")
    if notes.exists():
        out.append(notes.read_text())

    for size in sizes():
        out.append(f"## {size:,} stored sessions\n")
        for op in OPERATIONS:
            group = f"{op}-{size}"
            periodic = median(group, "sled-periodic")
            normal = median(group, "sqlite-wal-normal")
            out.append(f"### {op}\n")
            out.append("| backend | median | ÷ sled-periodic | ÷ sqlite-wal-normal |")
            out.append("| --- | --- | --- | --- |")
            for backend in BACKENDS:
                value = median(group, backend)
                if value is None:
                    continue
                out.append(f"| {backend} | {fmt(value)} | {ratio(value, periodic)} | {ratio(value, normal)} |")
            out.append("")

    reopen = reopen_section(out)

    store_runs = [root for root in [ROOT] + REPEATS if median("store_new-10000", "sled-periodic", root)]
    if len(store_runs) > 1:
        out.append("## Periodic stores, repeated runs\n")
        out.append("The store groups of 10,000 sessions in separate invocations; each row "
                   "compares the two backends of one invocation.\n")
        out.append("| run | operation | sled-periodic | sqlite-wal-normal | sqlite ÷ sled |")
        out.append("| --- | --- | --- | --- | --- |")
        for index, root in enumerate(store_runs, start=1):
            for op in ("store_upsert", "store_new"):
                s_ = median(f"{op}-10000", "sled-periodic", root)
                q_ = median(f"{op}-10000", "sqlite-wal-normal", root)
                out.append(f"| {index} | {op} | {fmt(s_)} | {fmt(q_)} | {ratio(q_, s_)} |")
        out.append("")

    redis_ratios = redis_section(out, [ROOT] + REPEATS)

    out.append("## Sweep of 1,000 expired sessions\n")
    out.append("| live sessions | median per sweep |")
    out.append("| --- | --- |")
    sweeps = {size: median("sweep_1000_expired", f"among-{size}") for size in sizes()}
    for size, value in sweeps.items():
        out.append(f"| {size:,} | {fmt(value)} |")
    out.append("")

    out.append("## Durable writers\n")
    out.append("Concurrent writers each storing new sessions, every store durable (sled "
               "`EveryWrite`, SQLite WAL `synchronous=FULL`). Time per stored session (the run's "
               "wall time ÷ sessions stored) and the throughput it means.\n")
    out.append("| writers | sled-everywrite | sqlite-wal-full | sled ÷ sqlite | sled stores/s | sqlite stores/s |")
    out.append("| --- | --- | --- | --- | --- | --- |")
    writers = {}
    for n in WRITERS:
        sled = median(f"durable_writers-{n}", "sled-everywrite")
        sqlite = median(f"durable_writers-{n}", "sqlite-wal-full")
        if sled is None and sqlite is None:
            continue
        writers[n] = (sled, sqlite)
        rate = lambda ns: "–" if ns is None else f"{1e9 / ns:,.0f}"
        out.append(f"| {n} | {fmt(sled)} | {fmt(sqlite)} | {ratio(sled, sqlite)} | {rate(sled)} | {rate(sqlite)} |")
    out.append("")
    if writers:
        PLOT.write_text(plot(writers))
        out.append(f"![Durable store latency and throughput against writers](benches/{PLOT.name})\n")

    out.append("## Loads during a sweep of 10,000 expired sessions\n")
    sweep_loads = ROOT / "loads_during_sweep" / "percentiles.json"
    loads = json.loads(sweep_loads.read_text()) if sweep_loads.exists() else None
    if loads:
        out.append("Loads of live sessions (10,000 live) with no sweep, and without pause while "
                   "`sweep_expired()` removes 10,000 expired ones on the same runtime "
                   f"(median sweep: {fmt(median('loads_during_sweep', 'sweep-10000'))}).\n")
        out.append("| loads | timed | p50 | p99 | max |")
        out.append("| --- | --- | --- | --- | --- |")
        for name, key in (("idle", "idle"), ("during the sweep", "during_sweep")):
            row = loads[key]
            out.append(f"| {name} | {row['count']:,} | {fmt(row['p50_ns'])} | {fmt(row['p99_ns'])} | {fmt(row['max_ns'])} |")
        out.append("")
    else:
        out.append("Not measured in this run.\n")

    out.append("## Codec (typical online session)\n")
    out.append("| | ours (bincode record) | serde_json | serde_json ÷ ours |")
    out.append("| --- | --- | --- | --- |")
    codec = {}
    for way in ("encode", "decode"):
        ours = median("codec", f"{way}-ours")
        json_ = median("codec", f"{way}-serde_json")
        codec[way] = (ours, json_)
        out.append(f"| {way} | {fmt(ours)} | {fmt(json_)} | {ratio(json_, ours)} |")
    out.append("")

    refresh_section(out)
    encryption = encryption_section(out)

    out.append("## Targets\n")
    out.append("| target | measured | met |")
    out.append("| --- | --- | --- |")

    def target(name, value, ok, shown):
        out.append(f"| {name} | {shown} | {'yes' if ok else 'no'} |" if value is not None else f"| {name} | not measured | – |")

    sled1, sqlite1 = writers.get(1, (None, None))
    if sled1 and fsync:
        target("1 durable writer within 2.5× of the disk's write+fdatasync", sled1, sled1 <= 2.5 * fsync, f"{sled1 / fsync:.2f}× fdatasync")
    if sled1 and sqlite1:
        target("1 durable writer within 1.25× of SQLite WAL FULL's latency", sled1, sled1 <= 1.25 * sqlite1, f"{sled1 / sqlite1:.2f}× SQLite's latency")
    smallest = sizes()[0] if sizes() else None
    periodic_store = median(f"store_new-{smallest}", "sled-periodic") if smallest else None
    sled64 = writers.get(64, (None, None))[0]
    if sled64 and periodic_store:
        share = periodic_store / sled64
        target("64 durable writers ≥ 0.6× the single-writer Periodic store rate", sled64, share >= 0.6, f"{share:.2f}×")
    for op in ("store_upsert", "store_new"):
        ratios = []
        for root in [ROOT] + REPEATS:
            s_ = median(f"{op}-10000", "sled-periodic", root)
            q_ = median(f"{op}-10000", "sqlite-wal-normal", root)
            if s_ and q_:
                ratios.append(q_ / s_)
        if ratios:
            middle = sorted(ratios)[len(ratios) // 2]
            shown = ", ".join(f"{r:.2f}×" for r in ratios)
            target(f"Periodic {op} ≥ 2× SQLite WAL NORMAL (median of {len(ratios)} runs)", middle, middle >= 2, f"median {middle:.2f}× ({shown})")
    if loads:
        idle99, during99 = loads["idle"]["p99_ns"], loads["during_sweep"]["p99_ns"]
        bound = max(5 * idle99, 100_000)
        target("load p99 during a sweep ≤ max(5× idle p99, 100 µs)", during99, during99 <= bound, f"{fmt(during99)} (bound {fmt(bound)}; {during99 / idle99:.1f}× idle)")
    for way, (ours, json_) in codec.items():
        if ours and json_:
            target(f"codec {way} ≥ 3× faster than serde_json", ours, json_ / ours >= 3, f"{json_ / ours:.2f}×")
    for name, seconds in reopen.get("opens", []):
        target(f"{reopen['count']:,} sessions: {name} ≤ 2 s", seconds, seconds <= 2, f"{seconds:.2f} s")
    for name, rss, cache in reopen.get("memory", []):
        target(f"{reopen['count']:,} sessions: RSS {name} ≤ cache capacity + 64 MiB", rss, rss <= cache + 64, f"{rss} MiB (bound {cache + 64} MiB)")
    for op, call, bound in REDIS_VS_BARE:
        ratios = redis_ratios.get(op)
        if ratios:
            middle = sorted(ratios)[len(ratios) // 2]
            shown = ", ".join(f"{r:.2f}×" for r in ratios)
            target(f"Redis {op} ≤ {bound}× a bare {call} plus parsing (median of {len(ratios)} runs)", middle, middle <= bound, f"median {middle:.2f}× ({shown})")
    for op, runs in encryption.items():
        # A run's margin: how far its sealed time is under the larger bound; the median run decides.
        margins = sorted((sealed - max(1.2 * plain, plain + 1_000), plain, sealed) for plain, sealed in runs)
        _, plain, sealed = margins[len(margins) // 2]
        shown = ", ".join(f"{s / p:.2f}× +{fmt(s - p)}" for p, s in runs)
        target(f"encrypted {op} within 1.2× or 1 µs of the same without encryption (median of {len(runs)} runs)",
               sealed, sealed <= max(1.2 * plain, plain + 1_000), f"median run {sealed / plain:.2f}× (+{fmt(sealed - plain)}); runs: {shown}")
    out.append("")
    print("\n".join(out))


def redis_section(out, roots):
    """The comparison of RedisSessionStorage with bare redis-rs calls, one row per run and
    operation; returns {operation: [ours ÷ bare per run]} for the targets."""
    redis_runs = [root for root in roots if median("redis-10000_load", "ours", root)]
    redis_ratios = {}
    if not redis_runs:
        return redis_ratios
    out.append("## RedisSessionStorage against bare redis-rs calls\n")
    out.append("10,000 sessions (200 shops of 50) stored by `RedisSessionStorage`. *bare* is one "
               "redis-rs call on a `ConnectionManager` plus the same property-array parsing "
               "(load, find) or writing (store); *ours* adds the shop index, the TTL and the "
               "checks (`benches/storage/redis_backend.rs`). The two sides run interleaved, "
               "operation by operation, so that both meet the same machine and server state; "
               "each row compares the two sides of one invocation.\n")
    out.append("| run | operation | bare | ours | ours ÷ bare | at most |")
    out.append("| --- | --- | --- | --- | --- | --- |")
    for index, root in enumerate(redis_runs, start=1):
        for op, call, bound in REDIS_VS_BARE:
            ours = median(f"redis-10000_{op}", "ours", root)
            bare = median(f"redis-10000_{op}", "bare", root)
            if ours and bare:
                redis_ratios.setdefault(op, []).append(ours / bare)
            out.append(f"| {index} | {op} (bare: {call}) | {fmt(bare)} | {fmt(ours)} | {ratio(ours, bare)} | {bound} |")
    out.append("")
    return redis_ratios


def reopen_section(out):
    """The million-session opens, memory and size on disk, from the reopen bench's output in
    $REOPEN_LOG; returns {"count": sessions, "opens": [(name, seconds)],
    "memory": [(name, MiB, cache MiB)]}."""
    log = os.environ.get("REOPEN_LOG")
    if not log or not Path(log).exists():
        return {}
    text = Path(log).read_text()
    count = re.search(r"^(\d+) sessions:", text, re.M)
    filled = re.search(r"fill: filled \d+ sessions in ([\d.]+) s; payload \(their session JSON\) (\d+) MiB", text)
    opens = {role: (float(s), int(rss)) for role, s, rss in re.findall(r"(open-[a-z-]+): open: ([\d.]+) s \(RSS (\d+) MiB\)", text)}
    loaded = {role: (int(rss), int(cache), int(disk)) for role, rss, cache, disk in re.findall(
        r"(open-[a-z-]+): loaded every session once in [\d.]+ s: RSS (\d+) MiB \(cache capacity (\d+) MiB\), (\d+) MiB on disk", text)}
    if not count or not filled or not opens:
        print(f"report.py: {log} holds no reopen figures", file=sys.stderr)
        return {}
    names = {"open-after-kill": "open after a SIGKILL (repair and size measurement included)",
             "open-clean-first": "open after a clean close, first",
             "open-clean-second": "open after a clean close, second"}
    sessions = int(count.group(1))
    out.append(f"## {sessions:,} sessions on disk: opens and memory\n")
    out.append("From one invocation of `cargo bench --bench reopen --all-features` (`benches/reopen.rs`): "
               "a process fills a sled store (Periodic flush, 64 writers), flushes it and is killed "
               "with SIGKILL; then each open runs in a fresh process, one after the other. Each figure "
               "is one event, not a median.\n")
    out.append("| | measured | goal |")
    out.append("| --- | --- | --- |")
    out.append(f"| fill (Periodic, 64 writers) | {float(filled.group(1)):.1f} s | – |")
    result = {"count": sessions, "opens": [], "memory": []}
    for role, name in names.items():
        if role not in opens:
            print(f"report.py: {log} has no line for {role}", file=sys.stderr)
            out.append(f"| {name} | not measured | ≤ 2 s |")
            continue
        seconds, rss = opens[role]
        result["opens"].append((name, seconds))
        out.append(f"| {name} | {seconds:.2f} s (RSS right after: {rss} MiB) | ≤ 2 s |")
    memory_names = {"open-after-kill": "after a SIGKILL, the open and loading every session once",
                    "open-clean-second": "after a clean open and loading every session once"}
    disk = None
    for role, name in memory_names.items():
        if role not in loaded:
            print(f"report.py: {log} has no memory line for {role}", file=sys.stderr)
            out.append(f"| RSS {name} | not measured | ≤ cache capacity + 64 MiB |")
            continue
        rss, cache, disk = loaded[role]
        result["memory"].append((name, rss, cache))
        out.append(f"| RSS {name} | {rss} MiB (cache capacity {cache} MiB) | ≤ {cache + 64} MiB |")
    if disk is not None:
        payload = int(filled.group(2))
        times = f" ({disk / payload:.1f}×)" if payload else ""
        out.append(f"| size on disk against the payload (the sessions' JSON, {payload:,} MiB) | {disk:,} MiB{times} | – |")
    out.append("")
    return result


def refresh_section(out):
    root = Path(os.environ.get("REFRESH_CRITERION", "target/criterion"))
    storages = [name for name in ("memory", "sled", "redis") if median(f"refresh_{name}", "refresh", root)]
    if not storages:
        return
    out.append("## Token refresh\n")
    out.append("`TokenRefresher` per call (`benches/refresh.rs`, one invocation of "
               "`cargo bench --bench refresh --all-features`, with `REDIS_URL` for the Redis rows). "
               "*fresh* hands out a session whose token is good (one load and the expiry check); "
               "*refresh* is a whole refresh with a token endpoint that answers at once: load, take "
               "the lock, load again, exchange, store with compare-and-set, release. *without a lock* "
               "is what an app does with no lock (load, exchange, store), so *refresh* minus it is "
               "what the lock and the compare-and-set cost per refresh. sled is the default, durable store "
               "(`FlushPolicy::EveryWrite`): each side waits for one fsync, whose time varies from write "
               "to write here. In memory, nearly all of the difference is the flight: a task spawned "
               "per refresh, and waking its caller on another thread.\n")
    out.append("| storage | load_session | fresh_session | without a lock | refresh | refresh − without | refresh ÷ without |")
    out.append("| --- | --- | --- | --- | --- | --- | --- |")
    for name in storages:
        group = f"refresh_{name}"
        load = median(group, "load_session", root)
        fresh = median(group, "fresh_session", root)
        plain = median(group, "load_exchange_store", root)
        full = median(group, "refresh", root)
        extra = fmt(full - plain) if full and plain else "–"
        out.append(f"| {name} | {fmt(load)} | {fmt(fresh)} | {fmt(plain)} | {fmt(full)} | {extra} | {ratio(full, plain)} |")
    out.append("")
    locks = [(name, median("refresh_lock", name, root)) for name in ("in_process", "redis")]
    out.append("One take and release of a refresh lock:\n")
    out.append("| lock | median |")
    out.append("| --- | --- |")
    for name, value in locks:
        if value is not None:
            out.append(f"| {name} | {fmt(value)} |")
    out.append("")
    out.append("Refresh calls per concurrent callers (tests and the example, counted, not timed): "
               "100 callers of one session make 1 call to the token endpoint on memory, sled, a "
               "`CustomSessionStorage` and Redis with the callers spread over 4 `RedisSessionStorage` "
               "instances (`tests/refresh.rs`); `cargo run --example expiring_tokens 1000` makes 1 "
               "for 1,000, and `... 10000` 1 for 10,000.\n")


def encryption_section(out):
    """The section on sealed tokens; returns {operation: [(plain, sealed) per run]} for the targets.

    $ENCRYPTION_CRITERION names one criterion output, or several separated by ':' (one per
    invocation), each shown as its own run."""
    roots = [Path(root) for root in os.environ.get("ENCRYPTION_CRITERION", "target/criterion").split(":")]
    measured = {}
    rows = [("load", "encryption_load", "plain", "sealed"), ("store", "encryption_store", "plain", "sealed"),
            ("encode a record", "encryption_codec", "encode-plain", "encode-sealed"),
            ("decode a record", "encryption_codec", "decode-plain", "decode-sealed")]
    lines = []
    for run, root in enumerate(roots, start=1):
        for name, group, plain_fn, sealed_fn in rows:
            plain, sealed = median(group, plain_fn, root), median(group, sealed_fn, root)
            if plain is None or sealed is None:
                continue
            if group != "encryption_codec":
                measured.setdefault(name, []).append((plain, sealed))
            lines.append(f"| {run} | {name} | {fmt(plain)} | {fmt(sealed)} | {ratio(sealed, plain)} | +{fmt(sealed - plain)} |")
    if not lines:
        return measured
    out.append("## Tokens encrypted at rest\n")
    out.append(f"Two sled stores (Periodic flush, 10,000 typical online sessions each) in each of {len(roots)} "
               "invocations of `cargo bench --bench encryption --all-features`: one opened with a key set, one "
               "without; and the record codec alone. Sealing adds one AES-256-GCM-SIV pass over the two tokens "
               "and 12 random bytes from the operating system per write.\n")
    out.append("| run | operation | without encryption | with | with ÷ without | difference |")
    out.append("| --- | --- | --- | --- | --- | --- |")
    out.extend(lines)
    out.append("")
    return measured

main()
