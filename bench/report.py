"""BENCHMARKS.md from the scenario results in bench/results/ (`python -m bench.report`; bench.scenarios calls it).

Every number comes from the JSON files; the hand-written reading of them (what was changed, what is still short)
lives in bench/NOTES.md and is appended as it is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.common import ROOT
from bench.worlds import RESULTS, SCENARIOS

OUTPUT = ROOT / "BENCHMARKS.md"
NOTES = ROOT / "bench" / "NOTES.md"
ORDER = ("S", "M", "daily", "with-latency", "L")
ROWS_PER_SECOND_TARGET = 2_000_000
S_SECONDS_TARGET, L_SECONDS_TARGET = 6, 180
REPORT_SECONDS_TARGET = 5  # the report step at L
# Analyst queries on the L warehouse (bench/queries.py), median seconds.
QUERY_TARGETS = {"one_pin_89_days": 0.05, "top_pins_28_days": 0.2}
L_RSS_TARGET_MB = 1024
BUDGET_SHARE_TARGET = 90


def load() -> dict[str, dict]:
    out = {}
    for name in ORDER:
        path = RESULTS / f"{name}.json"
        if path.exists():
            out[name] = json.loads(path.read_text())
    return out


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def _s(x) -> str:
    return "–" if x is None else f"{x:,.1f} s"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def scenario_table(results: dict[str, dict]) -> list[str]:
    names = list(results)
    rows: list[list[str]] = []

    def add(label: str, value) -> None:
        cells = []
        for name in names:
            try:
                cells.append(value(results[name]))
            except (KeyError, TypeError, ZeroDivisionError, ValueError):
                cells.append("–")
        rows.append([label, *cells])

    add("measured at (UTC)", lambda r: r["date_utc"].replace("T", " ")[:16])
    add("load average before / during (mean, max) / after", lambda r: f"{r['run']['load_average_before'][0]} / "
        f"{r['run']['load_average_during']['mean']}, {r['run']['load_average_during']['max']} / "
        f"{r['run']['load_average_after'][0]}")
    add("range (days)", lambda r: f"{r['range'][0]}..{r['range'][1]} ({r['days']})")
    add("**wall time, end to end**", lambda r: f"**{_s(r['run']['wall_seconds'])}**")
    add("  Dagster start-up", lambda r: _s(r["timing"]["dagster_startup_seconds"]))
    add("    of which spawn → `Running` line (imports, code location)", lambda r: _s(r["timing"]["startup_seconds"]))
    add("    of which Dagster outside the steps (build, launch, events)",
        lambda r: _s(r["timing"]["dagster_outside_steps_seconds"]))
    add("  extraction (dimensions + raw steps)", lambda r: _s(r["timing"]["extraction_seconds"]))
    add("  normalization (lake steps)", lambda r: _s(r["timing"]["normalization_seconds"]))
    add("  loading (warehouse steps, with checks)", lambda r: _s(r["timing"]["loading_seconds"]))
    add("  other steps", lambda r: f"{_s(r['timing']['other_steps_seconds'])} ({', '.join(r['timing']['other_steps'])})"
        if r["timing"]["other_steps"] else "–")
    add("  summary and exit", lambda r: _s(r["timing"]["summary_seconds"]))
    add("**API calls: measured / minimum**", lambda r: f"**{r['calls']['measured_total']:,} / {r['calls']['minimum_total']:,}**"
        + ("" if r["calls"]["equal_to_minimum"] else " (differs)"))
    add("  answers other than 200; client retries", lambda r: f"{r['calls']['answers_not_200']}; {r['calls']['client_retries']}")
    add("  Airbyte's rule, computed", lambda r: f"{r['plans']['airbyte_total']:,}")
    add("  MeltanoLabs' rule (organic only), computed", lambda r: f"{r['plans']['meltano_organic_total']:,}")
    add("metric rows normalized (organic + ads)", lambda r: f"{r['rows']['metric_rows_normalized']:,}")
    add("**metric rows/s through normalize + load**", lambda r: f"**{r['rows']['metric_rows_per_second_normalize_load']:,}**")
    add("**peak RSS, process tree**", lambda r: f"**{r['run']['peak_rss_tree_mb']:,.0f} MB**")
    add("  peak reached during (step)", lambda r: r["timing"]["peak_rss_during"] or "–")
    add("  peak outside the other steps", lambda r: f"{_peak_outside_other_steps(r):,.0f} MB")
    add("  largest process (GNU time)", lambda r: f"{r['run']['gnu_time']['peak_rss_mb']:,.0f} MB")
    add("  CPU user + system", lambda r: f"{r['run']['gnu_time']['user_cpu_seconds']:.1f} + "
        f"{r['run']['gnu_time']['system_cpu_seconds']:.1f} s")
    for query in ("one_pin_89_days", "top_pins_28_days", "campaign_weekly_spend_by_currency", "account_daily_89_days",
                  "pin_daily_count", "metric_daily_count"):
        add(f"query `{query}` (median of 5)", lambda r, q=query: f"{r['queries'][q]} s")
    add("warehouse on disk", lambda r: _mb(r["storage"]["warehouse"]["on_disk_bytes"]))
    add("lake on disk (files)", lambda r: f"{_mb(r['storage']['lake']['on_disk_bytes'])} ({r['storage']['lake']['files']:,})")
    add("raw zone on disk (files)", lambda r: f"{_mb(r['storage']['raw']['on_disk_bytes'])} ({r['storage']['raw']['files']:,})")
    return _table(["", *(SCENARIOS[n].name for n in names)], rows)


def _peak_outside_other_steps(r: dict) -> float:
    """The highest RSS sampled while neither an 'other' step (the report) nor the summary ran."""
    t = r["timing"]
    return max(mb for step, mb in t["peak_rss_mb_by_step"].items() if step not in (*t["other_steps"], "summary"))


def calls_table(r: dict) -> list[str]:
    plans, measured = r["plans"], r["run"]["api_calls"]
    endpoints = sorted(set(measured) | set(plans["minimum"]) | set(plans["airbyte"]) | set(plans["meltano_organic"]))
    rows = [[f"`{e}`", f"{measured.get(e, 0):,}", f"{plans['minimum'].get(e, 0):,}", f"{plans['airbyte'].get(e, 0):,}",
             f"{plans['meltano_organic'][e]:,}" if e in plans["meltano_organic"] else "–"] for e in endpoints]
    rows.append(["**total**", f"**{sum(measured.values()):,}**", f"**{plans['minimum_total']:,}**",
                 f"**{plans['airbyte_total']:,}**", f"**{plans['meltano_organic_total']:,}** (organic)"])
    return _table(["endpoint", "measured", "minimum (planners' formulas)", "Airbyte's rule", "MeltanoLabs' rule"], rows)


def targets(results: dict[str, dict]) -> list[str]:
    rows = []

    def verdict(ok: bool | None) -> str:
        return "–" if ok is None else ("**met**" if ok else "**not met**")

    for name, r in results.items():
        c = r["calls"]
        rows.append([f"calls = minimum, no retries without faults ({name})",
                     f"{c['measured_total']:,} / {c['minimum_total']:,}; {c['client_retries']} retries",
                     verdict(c["equal_to_minimum"] and c["client_retries"] == 0)])
    for name, r in results.items():
        rate = r["rows"].get("metric_rows_per_second_normalize_load")
        if rate is not None and name != "with-latency":
            rows.append([f"normalize + load ≥ 2 M metric rows/s ({name})", f"{rate:,}/s", verdict(rate >= ROWS_PER_SECOND_TARGET)])
    if "S" in results:
        wall = results["S"]["run"]["wall_seconds"]
        rows.append([f"S end to end ≤ {S_SECONDS_TARGET} s", _s(wall), verdict(wall <= S_SECONDS_TARGET)])
    if "L" in results:
        wall = results["L"]["run"]["wall_seconds"]
        rows.append(["L end to end ≤ 3 min", _s(wall), verdict(wall <= L_SECONDS_TARGET)])
        rss = results["L"]["run"]["peak_rss_tree_mb"]
        rows.append(["L peak RSS ≤ 1 GB", f"{rss:,.0f} MB", verdict(rss <= L_RSS_TARGET_MB)])
        report = results["L"]["timing"]["steps_seconds"].get("pinterest_report")
        if report is not None:
            rows.append([f"L report step ≤ {REPORT_SECONDS_TARGET} s", _s(report), verdict(report <= REPORT_SECONDS_TARGET)])
        for query, target in QUERY_TARGETS.items():
            seconds = results["L"].get("queries", {}).get(query)
            if seconds is not None:
                rows.append([f"L query `{query}` ≤ {target} s", f"{seconds} s", verdict(seconds <= target)])
        if "M" in results:
            m = results["M"]["run"]["peak_rss_tree_mb"]
            rows.append(["peak RSS roughly flat M → L", f"{m:,.0f} → {rss:,.0f} MB ({rss / m:.2f}x)", verdict(rss <= 1.25 * m)])
    else:
        rows.append(["L ≤ 3 min, ≤ 1 GB, flat from M", "not run (`make bench-large`)", "–"])
    if "with-latency" in results:
        for category, rate in results["with-latency"].get("rates", {}).items():
            if rate.get("percent_of_budget") is None:
                continue
            rows.append([f"with latency: {category} ≥ 90 % of {rate['budget_per_minute']}/min",
                         f"{rate['calls_per_minute']:,.0f}/min ({rate['percent_of_budget']:.0f} %) over {rate['calls']} calls",
                         verdict(rate["percent_of_budget"] >= BUDGET_SHARE_TARGET)])
    return _table(["target", "measured", ""], rows)


def machine(results: dict[str, dict]) -> list[str]:
    first = next(iter(results.values()))
    m, code = first["machine"], first["code"]
    commits = sorted({(r["code"].get("commit") or "?")[:10] + (" + uncommitted changes" if r["code"].get("code_modified")
                                                               else "") for r in results.values()})
    return [f"- **Machine**: {m['cpu_model']}, {m['cores']} cores ({m['cores_usable']} usable), "
            f"{m.get('memory_total_mb', 0) / 1024:.1f} GiB RAM, {m['platform']}; shared with other work (see the load "
            "averages with each scenario).",
            f"- **Software**: Python {m['python']}, dagster {m.get('dagster')}, duckdb {m.get('duckdb')}, "
            f"pyarrow {m.get('pyarrow')}, requests {m.get('requests')}.",
            f"- **Code measured**: commit {', '.join(commits)} ({code['source']}).",
            "- **Benchmark command(s)**: " + ", ".join(sorted({f"`{r['benchmark_command']}`" for r in results.values()}))
            + "."]


def render(results: dict[str, dict]) -> str:
    lines = ["# Benchmarks", "",
             "Generated by `python -m bench.report` from `bench/results/*.json` (written by `make bench`); the notes at "
             "the end are `bench/NOTES.md`. Do not edit the numbers by hand: re-run the benchmark.", "",
             "## Reproduce", "", "```sh",
             "make bench         # scenarios S, M, Daily and With-latency (python -m bench)",
             "make bench-large   # the same and L (python -m bench --large)",
             ".venv/bin/python -m bench.scenarios S daily   # chosen scenarios only",
             "```", "",
             "Each scenario is `.venv/bin/pinterest-etl run --start ... --end ...` in a fresh `PINTEREST_ETL_HOME`, as a "
             "child process under `/usr/bin/time -v`, against a simulator child process (`pinterest-etl sandbox` with the "
             "world flags below), with `PINTEREST_ETL_TODAY` fixed and no `DAGSTER_HOME` (Dagster's ephemeral instance, "
             "as `pinterest-etl run` is documented). Unless the scenario says otherwise, every rate budget is raised on "
             "both sides so that the numbers measure the pipeline, not the pacing.", ""]
    for name in results:
        s = SCENARIOS[name]
        r = results[name]
        lines.append(f"- **{s.title}**: `{r['simulator_command'].split('sandbox', 1)[1].strip()}`; "
                     f"`{r['run']['command'].split('pinterest-etl', 1)[1].strip()}`"
                     + (" (after the M backfill at today 2026-11-28, not measured; the simulator one day later, same "
                        "world)" if s.daily_on_top else ""))
    lines += ["", "## Machine", "", *machine(results), "", "## Targets", "", *targets(results), "",
              "## Scenarios", "", *scenario_table(results), "",
              "Dagster start-up is the time from spawning the command to its `Running ...` line (interpreter, imports, "
              "settings, the code location) plus the time from that line to the run's timing line that was not spent in "
              "a step (building and launching the run, recording its events); the three phases are the sums of the step timings the run prints (`  run: ... steps: ...`). Metric rows/s is "
              "the metric rows the lake steps report divided by the lake and warehouse steps' time. The peak RSS of the "
              "process tree is the largest of: the summed VmRSS of the command and all its descendants, sampled every "
              "0.2 s from /proc, and any one process's VmHWM.", ""]
    for name, r in results.items():
        lines += [f"### API calls by endpoint: {SCENARIOS[name].title}", "", *calls_table(r), ""]
        if r.get("rates"):
            lines += [f"Achieved rate per category ({name}):", ""]
            lines += _table(["category", "calls", "between first and last call", "calls/min", "budget", "% of budget"],
                            [[c, str(v["calls"]), _s(v["span_seconds"]), f"{v['calls_per_minute']:,.0f}",
                              f"{v['budget_per_minute']}/min", f"{v['percent_of_budget']:.0f} %"]
                             for c, v in r["rates"].items() if v.get("calls_per_minute")])
            lines.append("")
    lines += ["Call rules: " + "; ".join(f"*{k}*: {v}" for k, v in next(iter(results.values()))["plans"]["rules"].items())
              + ".", ""]
    if NOTES.exists():
        lines += [NOTES.read_text().rstrip(), ""]
    return "\n".join(lines)


def write() -> Path:
    results = load()
    if not results:
        raise SystemExit("no scenario results in bench/results/: run `make bench` first")
    OUTPUT.write_text(render(results))
    return OUTPUT


def main(argv: list[str] | None = None) -> int:
    import argparse

    argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.split("\n\n")[0]).parse_args(argv)
    print(f"wrote {write().relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
