"""The stack's Ansible target, printed as shell assignments for bash to eval.

    stack_config.py ROOT < `pulumi config --json`
        the engine's own merge of Pulumi.yaml defaults and the stack file.
    stack_config.py ROOT --stack-file Pulumi.STACK.yaml
        only the secrets paths (STACK_SECRETS_FILE, STACK_AGE_KEY_FILE), read from the stack file
        itself, without the engine or a state backend (scripts/secrets.sh). Both keys are required
        and have no default in Pulumi.yaml, so the stack file alone is the truth for them. The lab's
        `.lab/...` paths follow PLATFORM_LAB_DIR, as every lab script does.
"""
import json
import os
import re
import shlex
import sys

root = sys.argv[1]
stack_file = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--stack-file" else None


def read_stack_file(file):
    """platform:* values of a stack file. Stack files are flat `config:` maps of scalars; a line
    parser keeps this free of PyYAML (not in Debian's python3 by default)."""
    cfg = {}
    for line in open(file, encoding="utf8"):
        m = re.match(r"^\s+platform:([A-Za-z0-9_]+):\s*(.*?)\s*$", line)
        if not m:
            continue
        value = m.group(2)
        if value[:1] in ("'", '"') and value[-1:] == value[:1] and len(value) >= 2:
            value = value[1:-1]
        else:
            value = re.sub(r"\s+#.*$", "", value)
        if value:
            cfg[m.group(1)] = value
    return cfg


if stack_file:
    cfg = read_stack_file(stack_file)
else:
    cfg = {k.split(":", 1)[1]: v.get("value") for k, v in json.load(sys.stdin).items() if k.startswith("platform:")}


def path(key):
    value = cfg.get(key)
    if value is None:
        sys.exit(f"platform:{key} is not set in the stack configuration")
    value = os.path.expanduser(value)
    lab_dir = os.environ.get("PLATFORM_LAB_DIR")
    if stack_file and lab_dir and (value == ".lab" or value.startswith(".lab/")):
        return os.path.join(lab_dir, value[len(".lab/"):]) if value != ".lab" else lab_dir
    return value if os.path.isabs(value) else os.path.join(root, value)


if stack_file:
    out = {
        "STACK_SECRETS_FILE": path("secretsFile"),
        "STACK_AGE_KEY_FILE": path("ageKeyFile"),
    }
else:
    out = {
        "STACK_INVENTORY": path("inventory"),
        "STACK_HOST": cfg.get("host") or "",
        "STACK_HOST_ADDRESS": cfg.get("hostAddress") or "",
        "STACK_SSH_KEY": path("sshPrivateKeyPath"),
        "STACK_SECRETS_FILE": path("secretsFile"),
        "STACK_AGE_KEY_FILE": path("ageKeyFile"),
        # The cluster and GitOps side (scripts/lib/cluster-env.sh); empty when Argo CD is off.
        "STACK_ARGOCD_ENABLED": str(cfg.get("argocdEnabled") or "false").lower(),
        "STACK_KUBECONFIG": path("kubeconfigPath") if cfg.get("kubeconfigPath") else "",
        "STACK_GITOPS_REPO_URL": cfg.get("gitopsRepoUrl") or "",
        "STACK_GITOPS_REVISION": cfg.get("gitopsRevision") or "main",
        "STACK_GITOPS_PATH": cfg.get("gitopsPath") or "gitops",
    }
for k, v in out.items():
    print(f"{k}={shlex.quote(v)}")
