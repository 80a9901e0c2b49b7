"""The run's report: every measured value against its limit, the firmware version and board,
per procedure; as Markdown (report.md), HTML (report.html), JSON (results.json) and one merged
JUnit XML (junit.xml). Session logs (pytest output, the board's console as pytest-embedded
captured it) are copied under logs/."""

from __future__ import annotations

import html
import json
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any


def _junit_cases(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for tc in ET.parse(path).getroot().iter("testcase"):
        outcome, msg = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = tc.find(tag)
            if el is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                msg = (el.get("message") or el.text or "")[:500]
                break
        out.append({"name": tc.get("name"), "time": float(tc.get("time") or 0), "outcome": outcome, "message": msg})
    return out


def merge(sessions: list[dict[str, Any]], rig: dict[str, Any], *, firmware: str, wall_s: float,
          expected: list[str]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    tests: list[dict[str, Any]] = []
    problems: list[str] = []
    for s in sessions:
        out = Path(s["out"])
        if out.exists():
            d = json.loads(out.read_text())
            meta.update({k: v for k, v in d["meta"].items() if k not in meta})
            rows.extend(d["rows"])
        else:
            problems.append("session on %s wrote no measurements (exit %s)" % (s["port"], s.get("rc")))
        cases = _junit_cases(Path(s["junit"]))
        for c in cases:
            c["port"] = s["port"]
        tests.extend(cases)
        if s.get("rc") not in (0, None):
            problems.append("session on %s exited %s" % (s["port"], s.get("rc")))
    ran = {c["name"].removeprefix("test_") for c in tests if c["outcome"] in ("passed", "failed", "error")}
    for e in expected:
        if e not in ran and e not in rig["procedures"]["exclude"]:
            problems.append("procedure %s did not run" % e)
    failed_rows = [r for r in rows if not r["ok"]]
    bad_tests = [t for t in tests if t["outcome"] in ("failed", "error")]
    return {
        "passed": not failed_rows and not bad_tests and not problems and bool(rows),
        "meta": meta, "rig": rig["name"], "rig_file": rig["path"], "driver": rig["driver"],
        "board": meta.get("board", rig["board"]), "fw": meta.get("fw", "?"), "firmware_source": firmware,
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "wall_s": round(wall_s, 1),
        "rows": rows, "tests": tests, "problems": problems, "excluded": list(rig["procedures"]["exclude"]),
        "procedures": {k: v for k, v in rig["procedures"].items() if k != "exclude"},
    }


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return "%.2f" % v
    return str(v)


def markdown(r: dict[str, Any]) -> str:
    p = r["procedures"]
    lines = [
        "# HIL bench report: %s" % ("PASS" if r["passed"] else "FAIL"),
        "",
        "| | |", "|---|---|",
        "| firmware | %s (%s) |" % (r["fw"], r["firmware_source"]),
        "| board | %s (device %s, uid %s) |" % (r["board"], r["meta"].get("device_id", "?"), r["meta"].get("uid", "?")),
        "| rig | %s (%s driver, `%s`) |" % (r["rig"], r["driver"], r["rig_file"]),
        "| set point / window | %s %%LEL / %s s |" % (r["meta"].get("setpoint", "?"), r["meta"].get("confirm_s", "?")),
        "| slow ramp | %s → %s %%LEL around the set point at %s %%LEL/min |" % (p["ramp_from"], p["ramp_to"], p["ramp_rate"]),
        "| run | %s, %s s wall time |" % (r["when"], r["wall_s"]),
        "",
    ]
    if abs(float(p["ramp_to"]) - float(p["ramp_from"])) < 6:
        lines += ["Note: the slow ramp covers a narrow range near the set point (%s to %s %%LEL from it), not "
                  "the full ±3 %%LEL band; an alarm already at the ramp start fails the procedure." % (p["ramp_from"], p["ramp_to"]), ""]
    lines += ["## Measurements", "", "| | procedure | measured | limit | source | note |", "|---|---|---|---|---|---|"]
    for row in r["rows"]:
        lines.append("| %s | %s | %s %s | %s | %s | %s |" % (
            "✅" if row["ok"] else "❌", row["title"], _fmt(row["value"]), row["unit"], row["limit"],
            row["source"], row["note"].replace("|", "/")))
    lines += ["", "## Tests (JUnit)", "", "| test | outcome | time s | message |", "|---|---|---|---|"]
    for t in r["tests"]:
        lines.append("| %s | %s | %.1f | %s |" % (t["name"], t["outcome"], t["time"],
                                                 t["message"].splitlines()[0][:200].replace("|", "/") if t["message"] else ""))
    if r["excluded"]:
        lines += ["", "Excluded by the rig file: " + ", ".join(r["excluded"])]
    if r["problems"]:
        lines += ["", "## Problems", ""] + ["- " + x for x in r["problems"]]
    return "\n".join(lines) + "\n"


def to_html(r: dict[str, Any]) -> str:
    e = html.escape
    rows = "".join(
        "<tr class='%s'><td>%s</td><td>%s</td><td>%s %s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
            "ok" if x["ok"] else "bad", "pass" if x["ok"] else "FAIL", e(x["title"]), e(_fmt(x["value"])), e(x["unit"]),
            e(x["limit"]), e(x["source"]), e(x["note"])) for x in r["rows"])
    tests = "".join("<tr class='%s'><td>%s</td><td>%s</td><td>%.1f</td><td><pre>%s</pre></td></tr>" % (
        "ok" if t["outcome"] == "passed" else "bad", e(t["name"]), e(t["outcome"]), t["time"], e(t["message"]))
        for t in r["tests"])
    probs = "".join("<li>%s</li>" % e(x) for x in r["problems"])
    return """<!doctype html><html><head><meta charset="utf-8"><title>HIL report</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;
padding:3px 6px;vertical-align:top}tr.bad td{background:#fdd}tr.ok td:first-child{color:#070}pre{margin:0;white-space:pre-wrap}</style>
</head><body><h1>HIL bench report: %s</h1>
<p>firmware <b>%s</b> (%s) · board <b>%s</b> (device %s) · rig %s (%s) · %s · %s s</p>
<h2>Measurements</h2><table><tr><th></th><th>procedure</th><th>measured</th><th>limit</th><th>source</th><th>note</th></tr>%s</table>
<h2>Tests</h2><table><tr><th>test</th><th>outcome</th><th>s</th><th>message</th></tr>%s</table>
%s</body></html>
""" % ("PASS" if r["passed"] else "FAIL", e(r["fw"]), e(r["firmware_source"]), e(r["board"]),
       e(str(r["meta"].get("device_id", "?"))), e(r["rig"]), e(r["driver"]), e(r["when"]), r["wall_s"], rows, tests,
       "<h2>Problems</h2><ul>%s</ul>" % probs if probs else "")


def merged_junit(sessions: list[dict[str, Any]]) -> bytes:
    root = ET.Element("testsuites", name="gasguard-hil")
    for s in sessions:
        p = Path(s["junit"])
        if not p.exists():
            continue
        r = ET.parse(p).getroot()
        suites = [r] if r.tag == "testsuite" else list(r.iter("testsuite"))
        for suite in suites:
            suite.set("hostname", s["port"])
            root.append(suite)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write(r: dict[str, Any], out: Path, sessions: list[dict[str, Any]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(r, indent=1, default=str))
    (out / "report.md").write_text(markdown(r))
    (out / "report.html").write_text(to_html(r))
    (out / "junit.xml").write_bytes(merged_junit(sessions))
    logs = out / "logs"
    for i, s in enumerate(sessions):
        d = logs / ("session%d" % i)
        d.mkdir(parents=True, exist_ok=True)
        if Path(s.get("stdout", "")).is_file():
            shutil.copy(s["stdout"], d / "pytest.txt")
        ld = Path(s.get("logdir", ""))
        if ld.is_dir():
            for f in ld.rglob("*.log"):
                shutil.copy(f, d / ("%s-%s" % (f.parent.name, f.name)))
