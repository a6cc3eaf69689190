"""Argo CD Applications, seen through the Kubernetes API only (kubectl, $KUBECONFIG): no
argocd-server is needed, which the lab does not run. Used by scripts/drift.sh (its cluster
layer). Sync, wait and verify moved to `platform resync|rollback` (lib/operator/sync.ts). Needs
PyYAML (the Ansible venv's python has it).

    argocd_apps.py report [APP...]               JSON drift report of the apps (all by default)

Exit codes: 0 clean, 3 drifted, 1 error; errors on stderr.
"""
import fnmatch
import json
import os
import subprocess
import sys
import tempfile

import yaml

NAMESPACE = os.environ.get("ARGOCD_NAMESPACE", "argocd")
# Top-level kinds listed in an app's namespace when looking for orphans (objects made by hand).
ORPHAN_KINDS = [
    "configmaps", "secrets", "services", "serviceaccounts", "deployments.apps", "statefulsets.apps",
    "daemonsets.apps", "roles.rbac.authorization.k8s.io", "rolebindings.rbac.authorization.k8s.io",
    "ingresses.networking.k8s.io", "cronjobs.batch", "persistentvolumeclaims",
]


class Failure(Exception):
    pass


def kubectl(*args, stdin=None, timeout=30):
    try:
        r = subprocess.run(["kubectl", "--request-timeout=15s", *args], input=stdin, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure(f"kubectl {' '.join(args[:3])}: no answer from the Kubernetes API within {timeout}s")
    if r.returncode != 0:
        msg = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
        raise Failure(f"kubectl {' '.join(args[:4])}: {msg}")
    return r.stdout


def get_json(*args):
    return json.loads(kubectl(*args, "-o", "json"))


def app(name):
    try:
        return get_json("-n", NAMESPACE, "get", "applications.argoproj.io", name)
    except Failure as e:
        if "NotFound" in str(e) or "not found" in str(e):
            raise Failure(f"no Argo CD Application '{name}' in namespace {NAMESPACE}")
        raise


def apps(names):
    if names:
        return [app(n) for n in names]
    return sorted(get_json("-n", NAMESPACE, "get", "applications.argoproj.io")["items"], key=lambda a: a["metadata"]["name"])


# --- Git: what an app's source says -------------------------------------------------------------
_fetched = {}


def git_checkout(repo_url, revision):
    """A bare copy holding `revision` of `repo_url` (fetched once per run); returns (git_dir, sha)."""
    key = (repo_url, revision)
    if key in _fetched:
        return _fetched[key]
    d = tempfile.mkdtemp(prefix="platform-gitops-")
    subprocess.run(["git", "init", "-q", "--bare", d], check=True)
    refs = [revision] if len(revision) == 40 else [f"refs/heads/{revision}", f"refs/tags/{revision}"]
    last = ""
    for ref in refs:
        r = subprocess.run(["git", "-C", d, "fetch", "-q", "--depth", "1", repo_url, ref], capture_output=True, text=True, timeout=60)
        if r.returncode == 0:
            sha = subprocess.run(["git", "-C", d, "rev-parse", "FETCH_HEAD"], capture_output=True, text=True, check=True).stdout.strip()
            _fetched[key] = (d, sha)
            return _fetched[key]
        last = r.stderr.strip()
    raise Failure(f"cannot fetch {revision} from {repo_url}: {last}")


def git_objects(repo_url, revision, path, recurse=False):
    d, sha = git_checkout(repo_url, revision)
    ls = subprocess.run(["git", "-C", d, "ls-tree", "-r" if recurse else "--full-tree", "--name-only", f"{sha}:{path}"], capture_output=True, text=True)
    if ls.returncode != 0:
        raise Failure(f"{path} does not exist at {sha[:12]} in {repo_url}")
    objs = []
    for f in sorted(ls.stdout.split()):
        if not f.endswith((".yaml", ".yml")):
            continue
        text = subprocess.run(["git", "-C", d, "show", f"{sha}:{path}/{f}"], capture_output=True, text=True, check=True).stdout
        objs += [o for o in yaml.safe_load_all(text) if isinstance(o, dict) and o.get("kind")]
    return sha, objs


def obj_id(o, default_ns=None):
    md = o.get("metadata", {})
    ns = md.get("namespace") or default_ns
    return f"{o['kind']}/{ns + '/' if ns else ''}{md.get('name')}"


def mismatches(want, live, at=""):
    """Fields Git sets whose live value differs (the API adds defaults and status: not differences)."""
    if isinstance(want, list):
        if not isinstance(live, list) or len(live) != len(want):
            return [f"{at}: git {json.dumps(want)} live {json.dumps(live)}"]
        return [m for i, w in enumerate(want) for m in mismatches(w, live[i], f"{at}[{i}]")]
    if isinstance(want, dict):
        if not isinstance(live, dict):
            return [f"{at}: git an object, live {json.dumps(live)}"]
        return [m for k, v in want.items() for m in mismatches(v, live.get(k), f"{at}.{k}")]
    return [] if str(want) == str(live) else [f"{at}: git {json.dumps(want)} live {json.dumps(live)}"]


def live_of(o, default_ns):
    kind = o["kind"]
    group = o["apiVersion"].split("/")[0] if "/" in o["apiVersion"] else ""
    args = ["get", f"{kind}.{group}" if group else kind, o["metadata"]["name"], "--ignore-not-found"]
    ns = o["metadata"].get("namespace") or (default_ns if kind not in ("Namespace", "ClusterRole", "ClusterRoleBinding") else None)
    if ns:
        args[1:1] = []
        args = ["-n", ns] + args
    out = kubectl(*args, "-o", "json")
    return json.loads(out) if out.strip() else None


def compare_with_git(a, revision=None):
    """{object id: [differences]} between Git (at `revision`, default the app's synced revision) and the cluster."""
    src = a["spec"].get("source") or {}
    if src.get("directory", {}).get("jsonnet") or "include" in src.get("directory", {}):
        return None, {}  # the root renders jsonnet: its children are compared one by one instead
    rev = revision or a.get("status", {}).get("sync", {}).get("revision") or src.get("targetRevision", "HEAD")
    sha, objs = git_objects(src["repoURL"], rev, src["path"], src.get("directory", {}).get("recurse", False))
    ns = a["spec"]["destination"].get("namespace")
    return sha, {obj_id(o, ns): (lambda live: mismatches(o, live) if live else ["missing in the cluster"])(live_of(o, ns)) for o in objs}


# --- report -----------------------------------------------------------------------------------
_projects = {}


def orphan_settings(a):
    """The app's AppProject's spec.orphanedResources (None: orphans are not monitored)."""
    name = a["spec"].get("project", "default")
    if name not in _projects:
        _projects[name] = get_json("-n", NAMESPACE, "get", "appprojects.argoproj.io", name)
    return _projects[name].get("spec", {}).get("orphanedResources")


def orphan_ignored(o, settings):
    """Whether the project's orphanedResources.ignore covers the object (group, kind, name glob), as
    Argo CD applies it (e.g. the Secrets the Pulumi program makes from SOPS: lib/appSecrets.ts)."""
    group = o.get("apiVersion", "v1").rpartition("/")[0]
    for rule in settings.get("ignore") or []:
        if rule.get("group", "") == group and rule.get("kind") in (None, "", o["kind"]) \
                and fnmatch.fnmatchcase(o["metadata"]["name"], rule.get("name") or "*"):
            return True
    return False


def orphans(a, managed):
    """Top-level objects in the app's namespace that no app manages (as Argo CD counts them), when
    its project monitors orphans (the child apps' `platform` project does; the root's does not)."""
    ns = a["spec"]["destination"].get("namespace")
    settings = orphan_settings(a) if ns else None
    if settings is None:
        return []
    found = []
    items = get_json("-n", ns, "get", ",".join(ORPHAN_KINDS))["items"]
    for o in items:
        md = o["metadata"]
        if md.get("ownerReferences"):
            continue  # not top-level: made by a controller from something else
        if (o["kind"] == "ConfigMap" and md["name"] == "kube-root-ca.crt") or (o["kind"] == "ServiceAccount" and md["name"] == "default"):
            continue  # Kubernetes creates these in every namespace (Argo CD ignores them too)
        if o["kind"] == "Secret" and o.get("type") == "kubernetes.io/service-account-token":
            continue
        if orphan_ignored(o, settings):
            continue
        if (o["kind"], md["name"]) not in managed:
            found.append(f"{o['kind']}/{ns}/{md['name']}")
    return sorted(found)


def report_app(a):
    st = a.get("status", {})
    res = st.get("resources", [])
    out_of_sync = [
        {"object": f"{r['kind']}/{r.get('namespace') + '/' if r.get('namespace') else ''}{r['name']}", "status": r.get("status"), "requiresPruning": r.get("requiresPruning", False)}
        for r in res if r.get("status") != "Synced" or r.get("requiresPruning")
    ]
    policy = (a["spec"].get("syncPolicy") or {}).get("automated") or {}
    sync = st.get("sync", {}).get("status", "Unknown")
    rep = {
        "app": a["metadata"]["name"],
        "sync": sync,
        "health": st.get("health", {}).get("status", "Unknown"),
        "revision": st.get("sync", {}).get("revision"),
        "targetRevision": (a["spec"].get("source") or {}).get("targetRevision"),
        "repoURL": (a["spec"].get("source") or {}).get("repoURL"),
        "policy": "self-heal" if policy.get("selfHeal") else ("auto-sync, report drift" if policy else "manual"),
        "lastOperation": {k: (st.get("operationState") or {}).get(k) for k in ("phase", "startedAt", "finishedAt", "message")},
        "outOfSync": out_of_sync,
        "conditions": [f"{c['type']}: {c.get('message', '')}" for c in st.get("conditions", [])],
        "orphans": orphans(a, {(r["kind"], r["name"]) for r in res}),
        "diff": {},
    }
    if out_of_sync:
        try:
            _, cmp = compare_with_git(a)
            wanted = {o["object"] for o in out_of_sync}
            rep["diff"] = {k: v for k, v in cmp.items() if k in wanted or v}
        except Failure as e:
            rep["diff"] = {"error": [str(e)]}
    rep["drifted"] = bool(out_of_sync) or sync != "Synced" or bool(rep["orphans"])
    return rep


def cmd_report(names):
    reps = [report_app(a) for a in apps(names)]
    print(json.dumps({"apps": reps, "drifted": any(r["drifted"] for r in reps)}, indent=2))
    return 3 if any(r["drifted"] for r in reps) else 0


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 1
    cmd, args = argv[0], argv[1:]
    table = {"report": (cmd_report, None)}
    if cmd not in table:
        print(f"error: unknown command '{cmd}'", file=sys.stderr)
        return 1
    fn, n = table[cmd]
    if n is not None and len(args) not in (n if isinstance(n, tuple) else (n,)):
        print(f"error: wrong arguments for '{cmd}'\n{__doc__}", file=sys.stderr)
        return 1
    try:
        return fn(args) if cmd == "report" else fn(*args)
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
