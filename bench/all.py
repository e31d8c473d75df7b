"""``make bench``: every benchmark of the ledger in one run, printed as ONE table.

    make bench                      # everything (long: the 1 M export and the 10 M checks)
    BENCH_QUICK=1 make bench        # the ledger cells and the pages; the 1 M / 10 M parts stored

Runs the parts, each as its own process writing its JSON in bench/out/, then prints one table with
every figure beside its anchor and goal (issue #14) and writes it to bench/out/bench.json:

- ``ledger`` (bench/ledger.py): single postings on random accounts (1 and 8 processes), batches of
  100, a hot customer account, a hot internal account (the clearing account), the signed API with
  8 clients; anchor: the raw-SQL transfer of ../shared/bench-anchor/ through pgbench, same run;
- ``pages`` (bench/pages.py): the first and the last cursor page of a 250,000-entry statement;
  anchor: the first page (and the numbered ``?page=`` last page, the way before);
- ``exports`` (bench/exports.py): a 1,000,000-entry statement, time and peak memory; anchor: the
  issue's figures before (the whole file in memory);
- ``checks`` (bench/checks.py): ``ledger_check`` (incremental), ``ledger_check --full`` and the
  end-of-day check at 10,000,000 entries, time and peak memory (the 10 M database is built once
  and kept).

BENCH_QUICK=1 skips ``exports`` and ``checks`` and shows their last stored figures, marked
"(stored, <date>)"; BENCH_PARTS=ledger,pages,... runs exactly those parts (the others stored);
BENCH_PARTS=none prints the stored figures only.
Exit status: the worst of the parts' (1 drift or missed self-check, 2 a precondition).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
OUT_DIR = ROOT / "bench" / "out"
PARTS = {
    "ledger": ("bench/ledger.py", "ledger.json"),
    "pages": ("bench/pages.py", "pages.json"),
    "exports": ("bench/exports.py", "exports.json"),
    "checks": ("bench/checks.py", "checks.json"),
}
LONG = ("exports", "checks")
WHAT = {
    "ledger": "API, single and batch postings, hot accounts",
    "pages": "deep cursor page",
    "exports": "export at 1 M entries",
    "checks": "ledger_check and end of day at 10 M entries",
}

#: Goals of issue #14 (ratios to pgbench in the same run; seconds; MiB).
GOAL_API = 0.3
GOAL_RANDOM8 = 1.0
GOAL_BATCH = 3.0
GOAL_HOT = 0.8  # the hot customer account (the earlier throughput issue)
GOAL_HOT_INTERNAL = 1.0
GOAL_EXPORT_MIB = 200
GOAL_REQUEST_S = 30
GOAL_PAGE_RATIO = 1.5
GOAL_CHECK_S = 300


def parts_to_run() -> list[str]:
    chosen = os.environ.get("BENCH_PARTS", "").strip()
    if chosen == "none":  # print the stored figures only
        return []
    if chosen:
        names = [p.strip() for p in chosen.split(",") if p.strip()]
        unknown = [p for p in names if p not in PARTS]
        if unknown:
            raise SystemExit(f"bench/all.py: unknown part(s) {unknown}; known: {', '.join(PARTS)}")
        return names
    if os.environ.get("BENCH_QUICK", "").lower() in ("1", "true", "yes", "on"):
        return [p for p in PARTS if p not in LONG]
    return list(PARTS)


def run_part(name: str) -> tuple[int, float]:
    script = PARTS[name][0]
    print(f"== {name}: {script}", flush=True)
    started = time.monotonic()
    done = subprocess.run([str(PYTHON), script], cwd=ROOT)
    return done.returncode, time.monotonic() - started


def load(name: str) -> tuple[dict | None, str]:
    """The part's JSON and its date (the file's modification time, Asia/Shanghai)."""
    path = OUT_DIR / PARTS[name][1]
    if not path.is_file():
        return None, ""
    when = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone(dt.timedelta(hours=8)))
    return json.loads(path.read_text()), when.strftime("%Y-%m-%d %H:%M +08")


def _x(value) -> str:
    return f"{value:.2f}×" if isinstance(value, (int, float)) else "—"


def _cpu(cpu: dict | None) -> str:
    """`` (CPU 0.38+0.75 ms)``: client + server CPU per transfer (and the API's web server workers: ``app``), where
    the part measured it."""
    if not cpu or cpu.get("client") is None or cpu.get("server") is None:
        return ""
    app = f", app {cpu['app']:.2f}" if cpu.get("app") is not None else ""
    return f" (CPU {cpu['client']:.2f}+{cpu['server']:.2f}{app} ms)"


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "MISS")


def ledger_rows(data: dict) -> list[list[str]]:
    rows = []
    by_case = {(r["case"], r["processes"]): r for r in data.get("rows", [])}

    def row(label, case, processes, goal):
        r = by_case.get((case, processes))
        if r is None:
            return [label, "not measured", "", "", f"≥ {goal:.1f}×" if goal else "", ""]
        if not isinstance(r.get("ledger_tps"), (int, float)):
            return [label, str(r["ledger_tps"]), f"pgbench {r['pgbench_tps']:,.0f} tps", "", f"≥ {goal:.1f}×" if goal else "", ""]
        ratio = r["ratio"]
        figure = f"{r['ledger_tps']:,.0f} tps"
        if r.get("refused") or r.get("errors"):
            figure += f" ({r.get('refused', 0)} refused, {r.get('errors', 0)} errors)"
        figure += _cpu(r.get("ledger_cpu_ms"))
        anchor_name = "pgbench hot" if case.startswith("hot") else "pgbench random"
        return [
            label,
            figure,
            f"{anchor_name} {r['pgbench_tps']:,.0f} tps{_cpu(r.get('pgbench_cpu_ms'))}",
            _x(ratio),
            f"≥ {goal:.1f}×" if goal else "",
            _verdict(ratio >= goal) if goal else "",
        ]

    # The first API cell of the run (its label names the server set-up: "api random (2 gthread×4)").
    api_case, api = next(
        ((case, p) for case, p in by_case if case.startswith("api random") and "general path" not in case), ("api random", 8)
    )
    rows.append(row(f"API signed POST /transfers/, {api} clients{api_case.removeprefix('api random')}", api_case, api, GOAL_API))
    rows.append(row("single postings, random, 1 proc", "random", 1, None))
    rows.append(row("single postings, random, 8 proc", "random", 8, GOAL_RANDOM8))
    rows.append(server_bound_row(by_case.get(("random", 8))))
    platform = next((case for case, _p in by_case if case.startswith("per platform, batches of")), "per platform, batches of 100")
    rows.append(row(f"{platform.split(', ', 1)[1]}, 8 platforms, own accounts", platform, 8, GOAL_BATCH))
    batch = next((case for case, _p in by_case if case.startswith("random, batches of")), "random, batches of 100")
    rows.append(row(f"{batch.split(', ', 1)[1]}, 8 proc, all accounts", batch, 8, None))
    rows.append(row("hot customer account, 1 proc", "hot", 1, None))
    rows.append(row("hot customer account, 8 proc", "hot", 8, GOAL_HOT))
    rows.append(row("hot internal (clearing), 1 proc", "hot internal", 1, None))
    rows.append(row("hot internal (clearing), 8 proc", "hot internal", 8, GOAL_HOT_INTERNAL))
    return rows


def server_bound_row(r: dict | None) -> list[str]:
    """The 8-process random cell as PostgreSQL's CPU sees it: pgbench's server CPU per transfer over the ledger's.

    On this 2-core machine the client processes (Python, ~0.5 ms a posting; pgbench's C client ~0.1 ms) and the
    server share the cores, so the cell's ratio is the ratio of client + server CPU. In production the ledger's
    callers (web and Celery workers) run on other machines and the database's cores are spent on the server side
    alone: this figure is the ratio the cell would show there. A figure beside the goal, not a verdict."""
    label = "  the same, server CPU only (clients elsewhere)"
    ledger_cpu, anchor_cpu = (r or {}).get("ledger_cpu_ms") or {}, (r or {}).get("pgbench_cpu_ms") or {}
    if not ledger_cpu.get("server") or not anchor_cpu.get("server"):
        return [label, "not measured", "", "", "", ""]
    ratio = anchor_cpu["server"] / ledger_cpu["server"]
    return [
        label,
        f"ledger {ledger_cpu['server']:.2f} ms PostgreSQL CPU a transfer",
        f"pgbench {anchor_cpu['server']:.2f} ms",
        _x(ratio),
        f"(≥ {GOAL_RANDOM8:.1f}×)",
        "",
    ]


def pages_rows(data: dict) -> list[list[str]]:
    by_case = {r["case"]: r for r in data.get("rows", [])}
    entries = data.get("setup", {}).get("entries")
    first, last = by_case.get("cursor, first page"), by_case.get("cursor, last page")
    numbered = by_case.get("?page=, last page")
    if not first or not last:
        return [["deep page (cursor)", "not measured", "", "", "", ""]]
    ratio = last["median_ms"] / first["median_ms"]
    n = f" of {entries:,}" if entries else ""
    before = f"; ?page= last {numbered['median_ms']:,.0f} ms" if numbered else ""
    return [
        [
            f"deep page: last cursor page{n} entries",
            f"{last['median_ms']:,.1f} ms (median)",
            f"first page {first['median_ms']:,.1f} ms{before}",
            _x(ratio),
            f"≤ {GOAL_PAGE_RATIO}×",
            _verdict(ratio <= GOAL_PAGE_RATIO),
        ]
    ]


EXPORT_ANCHOR = {
    "request": "before: the CSV request died at 30 s (250 k)",
    "job csv": "before: CSV 32–38 s, 340 MiB (250 k, in memory)",
    "stream csv": "before: CSV 32–38 s, 340 MiB (250 k, in memory)",
    "job xlsx": "before: XLSX 73–75 s, 940 MiB (250 k, in memory)",
}


def exports_rows(data: dict) -> list[list[str]]:
    rows = []
    n = data.get("entries", 0)
    for r in data.get("results", []):
        if r["case"] == "request":
            ok = r["seconds"] < GOAL_REQUEST_S and r["peak_mib"] < GOAL_EXPORT_MIB
            goal = f"< {GOAL_REQUEST_S} s, < {GOAL_EXPORT_MIB} MiB"
        else:
            ok = r["peak_mib"] < GOAL_EXPORT_MIB and r.get("state", "done") == "done"
            goal = f"< {GOAL_EXPORT_MIB} MiB"
        rows.append(
            [
                f"export {r['case']}, {n / 1e6:g} M entries",
                f"{r['seconds']:,.1f} s, {r['peak_mib']:.0f} MiB",
                EXPORT_ANCHOR.get(r["case"], ""),
                "",
                goal,
                _verdict(ok),
            ]
        )
    return rows or [["export at 1 M entries", "not measured", "", "", "", ""]]


def checks_rows(data: dict) -> list[list[str]]:
    build = data.get("build", {})
    n = build.get("vouchers_generated", 0) * 2
    rows = []
    full = next((r for r in data.get("results", []) if r["command"].endswith("--full")), None)
    for r in data.get("results", []):
        ok = r["seconds"] < data.get("goal_s", GOAL_CHECK_S) and r["exit"] == 0
        figure = f"{r['seconds']:,.1f} s, {r['peak_mib']:.0f} MiB"
        if r["exit"] != 0:
            figure += f" (exit {r['exit']})"
        rows.append(
            [
                f"{r['command'].removeprefix('manage.py ')}, {n / 1e6:g} M entries",
                figure,
                f"--full {full['seconds']:,.1f} s" if full and r is not full else f"build {build.get('build_s', 0):,.0f} s, once",
                _x(r["seconds"] / full["seconds"]) if full and r is not full and full["seconds"] else "",
                f"< {GOAL_CHECK_S} s",
                _verdict(ok),
            ]
        )
    return rows or [["ledger_check at 10 M entries", "not measured", "", "", "", ""]]


BUILDERS = {"ledger": ledger_rows, "pages": pages_rows, "exports": exports_rows, "checks": checks_rows}


def print_table(table: list[list[str]]) -> None:
    header = ["measure", "figure", "anchor", "ratio", "goal", "verdict", "source"]
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    print("-+-".join("-" * w for w in widths))
    for line in table:
        print(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def main() -> int:
    began = time.monotonic()
    run = parts_to_run()
    status, seconds = {}, {}
    for name in run:
        status[name], seconds[name] = run_part(name)
    table, report = [], {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "parts": {}}
    try:
        report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    for name in PARTS:
        data, when = load(name)
        fresh = name in run and status.get(name) in (0, 1)
        if data is None or (name in run and not fresh):
            source = f"failed (exit {status[name]})" if name in run else "not run, nothing stored"
            rows = [[f"{name}: {WHAT[name]}", "n/a", "", "", "", ""]]
        else:
            source = "this run" if fresh else f"(stored, {when})"
            rows = BUILDERS[name](data)
        for row in rows:
            table.append([*row, source])
        report["parts"][name] = {
            "source": source,
            "exit": status.get(name),
            "seconds": round(seconds.get(name, 0), 1),
            "rows": [dict(zip(["measure", "figure", "anchor", "ratio", "goal", "verdict"], r, strict=True)) for r in rows],
        }
    print()
    print("make bench: issue #14's figures, each beside its anchor and goal (ratios from one run)")
    print_table(table)
    load_avg = report.get("load_average")
    print(f"\ntotal {time.monotonic() - began:,.0f} s; load average {load_avg}; {os.cpu_count()} CPU(s)")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "bench.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {(OUT_DIR / 'bench.json').relative_to(ROOT)}")
    return max([0, *status.values()])


if __name__ == "__main__":
    sys.exit(main())
