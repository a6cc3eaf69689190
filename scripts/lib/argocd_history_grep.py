"""Argo CD's record of a correlation id: reads `kubectl get applications -o json` on stdin and
prints, per app, the current/last sync operation and the history entries whose initiator or info
carries ID (scripts/resync.sh and rollback.sh put it there). Exit 0 when found, 1 otherwise.
    argocd_history_grep.py ID
"""
import json
import sys

cid = sys.argv[1]
found = False
for a in json.load(sys.stdin).get("items", []):
    name = a["metadata"]["name"]
    st = a.get("status", {})
    op = st.get("operationState") or {}
    opdef = op.get("operation") or {}
    info = {i.get("name"): i.get("value") for i in opdef.get("info", [])}
    if cid in json.dumps(opdef):
        found = True
        print(f"  {name}: last operation {op.get('phase')} {op.get('startedAt')} -> {op.get('finishedAt')} "
              f"revision {(op.get('syncResult') or {}).get('revision', '?')[:12]} "
              f"by {opdef.get('initiatedBy', {}).get('username', '?')}; {', '.join(f'{k}={v}' for k, v in info.items())}")
    for h in st.get("history", []):
        if cid in json.dumps(h.get("initiatedBy", {})):
            found = True
            print(f"  {name}: history #{h.get('id')} deployed {h.get('deployedAt')} revision {h.get('revision', '?')[:12]} "
                  f"by {h['initiatedBy'].get('username')}")
sys.exit(0 if found else 1)
