"""Prints the Pulumi updates (stack history JSON on stdin) whose message contains argv[1]; exit 1 if none."""
import json
import sys

hits = [u for u in json.load(sys.stdin) if sys.argv[1] in (u.get("message") or "")]
for u in hits:
    print(f"  v{u.get('version')} {u.get('kind')} {u.get('result')} {u.get('startTime')} {u.get('message')}  changes={u.get('resourceChanges')}")
sys.exit(0 if hits else 1)
