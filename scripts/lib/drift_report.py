"""Joins the three layers of scripts/drift.sh into one JSON report and a human summary.

    drift_report.py WORK_DIR REPORT STACK CID WALL_S HOST_RC PULUMI_RC CLUSTER_RC
A layer's rc is "-" when it was not asked for; 0 clean, 3 (host) or 7 (pulumi --expect-no-changes)
or 3 (cluster) drifted, anything else broken. Exit: 0 clean, 3 drifted, 1 broken.
"""
import json
import os
import re
import sys

work, report, stack, cid, wall, host_rc, pulumi_rc, cluster_rc = sys.argv[1:9]


def read(name):
    p = os.path.join(work, name)
    return open(p, encoding="utf8").read() if os.path.exists(p) else ""


def last_error(name):
    lines = [l for l in read(name).splitlines() if l.strip()]
    errs = [l for l in lines if re.search(r"error|cannot|does not|refused|unreachable", l, re.I)]
    return (errs or lines or ["(no output)"])[-1].strip()


layers = {}
if host_rc != "-":
    rc = int(host_rc)
    h = {"status": "clean" if rc == 0 else "drifted" if rc == 3 else "broken"}
    if os.path.exists(os.path.join(work, "host.json")):
        data = json.load(open(os.path.join(work, "host.json")))
        h["domains"] = data.get("domains", data)
    if h["status"] == "broken":
        h["error"] = last_error("host.err") if read("host.err").strip() else last_error("host.txt")
    layers["host"] = h

if pulumi_rc != "-":
    rc = int(pulumi_rc)
    text = read("pulumi.txt")
    p = {"status": "clean" if rc == 0 else "drifted" if rc == 7 else "broken"}
    # Resources whose refreshed state differs ("~ ... (update)" blocks of the --diff output).
    p["resources"] = re.findall(r"\(update\)\n(?:\s+\[id=[^\]]*\]\n)?\s+\[urn=[^\]]*::([^\]:]+)\]", text)
    p["hostInSyncFalse"] = re.findall(r"hostInSync\s*: true => false", text) != []
    if p["status"] == "broken":
        p["error"] = last_error("pulumi.err") if read("pulumi.err").strip() else last_error("pulumi.txt")
    layers["pulumi"] = p

if cluster_rc != "-":
    rc = int(cluster_rc)
    c = {"status": "clean" if rc == 0 else "drifted" if rc == 3 else "broken"}
    if c["status"] != "broken" and read("cluster.json").strip():
        c["apps"] = json.loads(read("cluster.json"))["apps"]
    else:
        c["status"] = "broken"
        c["error"] = last_error("cluster.err")
    layers["cluster"] = c

statuses = [l["status"] for l in layers.values()]
overall = "broken" if "broken" in statuses else "drifted" if "drifted" in statuses else "clean"
doc = {"stack": stack, "correlationId": cid, "wallSeconds": float(wall), "status": overall, "layers": layers}
with open(report, "w", encoding="utf8") as f:
    json.dump(doc, f, indent=2)

print(f"drift report: {overall.upper()} ({stack}, correlation id {cid}, {wall}s)")
for name, l in layers.items():
    print(f"  {name:<8} {l['status']}" + (f": {l['error']}" if l.get("error") else ""))
    if name == "host":
        for d, v in (l.get("domains") or {}).items():
            if isinstance(v, dict) and v.get("drifted"):
                tasks = ", ".join(t if isinstance(t, str) else str(t.get("task", t)) + (f' ({", ".join(t["items"])})' if t.get("items") else "")
                                  for t in (v.get("tasks") or [])[:4])
                print(f"    {d:<12} drifted {tasks}")
    if name == "pulumi" and l.get("resources"):
        print(f"    resources: {', '.join(l['resources'])}")
    if name == "cluster":
        for a in l.get("apps", []):
            mark = "drifted" if a["drifted"] else "ok"
            print(f"    {a['app']:<16} {a['sync']:<10} {a['health']:<12} {a['policy']:<24} {mark}")
            for o in a["outOfSync"]:
                print(f"      {o['status']:<10} {o['object']}" + ("  (requires pruning)" if o.get("requiresPruning") else ""))
                for d in a.get("diff", {}).get(o["object"], [])[:5]:
                    print(f"        {d}")
            for o in a["orphans"]:
                print(f"      orphan     {o}  (not in Git: bring it under gitops/ or delete it; docs/runbooks/drift-detected.md)")
print(f"report: {report}")
sys.exit({"clean": 0, "drifted": 3, "broken": 1}[overall])
