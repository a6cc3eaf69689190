"""The age recipients of the .sops.yaml creation rule that applies to a file, read or rewritten.

    sops_rule.py CONFIG RELPATH get              one recipient per line
    sops_rule.py CONFIG RELPATH set R1,R2,...    rewrite that rule's `age:` line in place

The rule is the first one whose path_regex matches RELPATH (the file's path relative to CONFIG's
directory), as sops picks it. Only the layout this repository uses is handled: per rule a
`path_regex:` and a comma-separated `age:` scalar. Comments and every other line are kept as they
are; key_groups or a block list are refused (edit by hand). Used by scripts/secrets.sh.
Exit 0 done; otherwise the message (on stderr) says why, and nothing was written.
"""
import re
import sys

config, rel, op = sys.argv[1:4]
new = sys.argv[4] if len(sys.argv) > 4 else ""
lines = open(config, encoding="utf8").read().split("\n")


def scalar(value):
    value = value.strip()
    if len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0]:
        return value[1:-1]
    return re.sub(r"\s+#.*$", "", value)


def rules():
    """Each item of creation_rules: {field: (line index, scalar value)}. A line parser keeps this
    free of PyYAML and keeps every other line (comments included) byte for byte."""
    start = next((i for i, l in enumerate(lines) if re.match(r"^creation_rules:\s*(#.*)?$", l)), None)
    if start is None:
        sys.exit(".sops.yaml has no creation_rules")
    items, dash = [], None
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            break  # the next top-level key
        m = re.match(r"^(\s*)- (.*)$", line)
        if m and (dash is None or len(m.group(1)) == dash):
            dash = len(m.group(1))
            items.append({})
            line = " " * (dash + 2) + m.group(2)
        f = re.match(r"^(\s*)([A-Za-z_]+):(.*)$", line)
        if items and f and len(f.group(1)) == dash + 2:
            items[-1][f.group(2)] = (i, scalar(f.group(3)))
    return items


for rule in rules():
    regex = rule.get("path_regex", (None, ""))[1]
    if regex and not re.search(regex, rel):
        continue
    if not rule.get("age", (None, ""))[1] or "key_groups" in rule:
        sys.exit(f".sops.yaml's creation rule for {rel} has no `age: <recipients>` line this command can read "
                 "(key_groups or a block list): edit it by hand, then run `sops updatekeys` on the file")
    index, value = rule["age"]
    if op == "get":
        print("\n".join(r.strip() for r in value.split(",") if r.strip()))
    elif op == "set" and new:
        lines[index] = re.sub(r"age:.*$", "age: " + new, lines[index])
        open(config, "w", encoding="utf8").write("\n".join(lines))
    else:
        sys.exit("usage: sops_rule.py CONFIG RELPATH get | set R1,R2,...")
    sys.exit(0)
sys.exit(f"no creation rule of .sops.yaml matches {rel}: add one for it (docs/runbooks/rotate-secrets.md)")
