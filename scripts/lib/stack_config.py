"""The stack's Ansible target, printed as shell assignments for bash to eval.

    stack_config.py ROOT < `pulumi config --json`
        the engine's own merge of Pulumi.yaml defaults and the stack file.
"""
import json
import os
import shlex
import sys

root = sys.argv[1]
cfg = {k.split(":", 1)[1]: v.get("value") for k, v in json.load(sys.stdin).items() if k.startswith("platform:")}


def path(key):
    value = cfg.get(key)
    if value is None:
        sys.exit(f"platform:{key} is not set in the stack configuration")
    value = os.path.expanduser(value)
    return value if os.path.isabs(value) else os.path.join(root, value)


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
