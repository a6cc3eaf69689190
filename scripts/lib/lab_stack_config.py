"""The lab stack's config file, made to follow the lab it runs against (scripts/lib/pulumi-env.sh).

    lab_stack_config.py SOURCE LAB_DIR PROJECT_ROOT > copy

The committed Pulumi.lab.yaml describes the default lab: paths under `.lab/`, the VPS at
scripts/lab/lab.env's LAB_VPS_ADDR, the host side of the lab bridge at LAB_HOST_ADDR (the Git
server's URL). A second, isolated lab (other PLATFORM_LAB_DIR, LAB_* variables in the environment,
docs/runbooks/lab.md) gets a copy with:
  - values `.lab` / `.lab/...` -> LAB_DIR / LAB_DIR/...   (only when LAB_DIR is not <root>/.lab)
  - lab.env's LAB_VPS_ADDR and LAB_HOST_ADDR -> the environment's (whole addresses only:
    10.213.0.1 is not rewritten inside 10.213.0.10)
  - the Git URL's port 9418 -> LAB_GIT_PORT, when that is set to another port
  - when the VPS address moved: `platform:hostAddressOverridesInventory: "true"`, so that the
    program accepts a hostAddress other than the lab inventory's ansible_host and Ansible connects
    to hostAddress (lib/config.ts).
For the default lab (no LAB_* override, PLATFORM_LAB_DIR unset or <root>/.lab) the copy is the
source byte for byte."""
import os
import re
import sys

source, lab_dir, root = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(source, encoding="utf-8").read()

# lab.env's values (the committed file's own) and the effective ones (the environment wins).
defaults = {}
with open(os.path.join(root, "scripts/lab/lab.env"), encoding="utf-8") as f:
    for line in f:
        m = re.match(r"^(LAB_[A-Z0-9_]+)=(.*)$", line.strip())
        if m:
            defaults[m.group(1)] = m.group(2)
moves = {}
for key in ("LAB_VPS_ADDR", "LAB_HOST_ADDR"):
    effective = os.environ.get(key) or defaults[key]
    if effective != defaults[key]:
        moves[defaults[key]] = effective

if moves:
    # One pass, longest address first: a replacement is never rewritten again.
    pattern = re.compile(
        r"(?<![0-9.])(" + "|".join(re.escape(a) for a in sorted(moves, key=len, reverse=True)) + r")(?![0-9])"
    )
    text = pattern.sub(lambda m: moves[m.group(1)], text)

# The Git server's port (scripts/lab/git-server.sh: LAB_GIT_PORT, default 9418): an isolated lab's
# git daemon listens on its own port, and Argo CD must be told that one.
git_port = os.environ.get("LAB_GIT_PORT") or defaults.get("LAB_GIT_PORT") or "9418"
if git_port != "9418":
    text = re.sub(r"(git://[0-9.]+:)9418(?=/)", lambda m: m.group(1) + git_port, text)

if os.path.realpath(lab_dir) != os.path.realpath(os.path.join(root, ".lab")):
    # `platform:key: .lab/...` (plain or quoted): the default lab's directory, relative to the project.
    text = re.sub(
        r"^([ \t]*[\w-]+:[\w-]+:[ \t]*[\"']?)\.lab(?=[/\"'\s]|$)",
        lambda m: m.group(1) + lab_dir.rstrip("/"),
        text,
        flags=re.M,
    )

if defaults["LAB_VPS_ADDR"] in moves and "hostAddressOverridesInventory" not in text:
    text, n = re.subn(
        r"^config:[ \t]*\n",
        "config:\n  # Added for this isolated lab (scripts/lib/lab_stack_config.py): the VPS is at LAB_VPS_ADDR.\n"
        '  platform:hostAddressOverridesInventory: "true"\n',
        text,
        count=1,
        flags=re.M,
    )
    if n == 0:
        sys.exit(f"{source}: no top-level 'config:' section to add platform:hostAddressOverridesInventory to")

sys.stdout.write(text)
