"""Turns the evidence record of a `--check --diff` run into a per-domain drift report.
Usage: host_drift.py EVIDENCE_JSON REPORT_JSON DOMAIN... ; prints the human summary; exit 0 clean,
3 drifted, 1 broken (the run failed or a host was unreachable)."""
import json
import sys

evidence_file, report_file, *domains = sys.argv[1:]
doc = json.load(open(evidence_file))
report = {
    "correlationId": doc["correlation_id"],
    "checkedAt": doc["ended"],
    "durationS": doc["duration_s"],
    "evidenceFile": evidence_file,
    "domains": {},
}
for d in domains:
    tasks = [t for t in doc["tasks"] if t.get("role") == d and t["status"] == "changed"]
    report["domains"][d] = {
        "drifted": bool(tasks),
        "tasks": [{"task": t["task"], **({"items": t["items"]} if t.get("items") else {}),
                   **({"diff": t["diff_summary"]} if t.get("diff_summary") else {})} for t in tasks],
    }
broken = [t for t in doc["tasks"] if t["status"] in ("failed", "unreachable")]
if broken or not doc["ok"]:
    report["status"] = "broken"
    report["errors"] = [f'{t["host"]}: {t.get("role") or "preflight"} / {t["task"]}: {t.get("message", t["status"])}' for t in broken]
elif any(v["drifted"] for v in report["domains"].values()):
    report["status"] = "drifted"
else:
    report["status"] = "clean"
json.dump(report, open(report_file, "w"), indent=2)

print(f'host drift: {report["status"]} (correlation id {report["correlationId"]}, {report["durationS"]}s)')
for d, v in report["domains"].items():
    print(f'  {d:<11} {"DRIFTED" if v["drifted"] else "in sync"}')
    for t in v["tasks"]:
        print(f'      would change: {t["task"]}' + (f' ({", ".join(t["items"])})' if t.get("items") else ""))
        diff = t.get("diff") or []
        for part in diff if isinstance(diff, list) else [diff]:
            if not isinstance(part, dict):
                continue
            if part.get("before_header"):
                print(f'        --- {part["before_header"]}')
            for line in (part.get("lines") or [])[:10]:
                print(f"        {line}")
for e in report.get("errors", []):
    print(f"  error: {e}")
print(f"report: {report_file}")
sys.exit({"clean": 0, "drifted": 3, "broken": 1}[report["status"]])
