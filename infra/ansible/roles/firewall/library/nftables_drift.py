#!/usr/bin/python3
# Compares the loaded nftables ruleset with the rendered one (read-only; docs/adr/0009).
# SPDX-License-Identifier: MIT
from __future__ import annotations

DOCUMENTATION = r"""
module: nftables_drift
short_description: Compare the loaded nftables ruleset with a rendered one (changes nothing)
description:
  - Loads C(desired) (an nft script) into a scratch network namespace (C(unshare --net)), lists
    C(table) there and compares it with the same table in the host's loaded ruleset, both in the
    canonical form of C(nft -j list table) (handles dropped, set elements sorted).
  - Lists tables other than C(table) that have a base chain on the input hook which accepts
    (policy accept, or an accept verdict in any rule of the table), unless named in
    C(foreign_tables_allowed).
  - Never changes the host, in check mode or not. Returns C(changed=true) when the host drifted
    (the caller notifies the handlers that restore the ruleset), with a diff of the listings.
options:
  desired:
    description: The rendered ruleset (the content of /etc/nftables.conf).
    type: str
    required: true
  table:
    description: The platform's table, "<family> <name>".
    type: str
    default: inet platform
  foreign_tables_allowed:
    description: Other tables ("<family> <name>") that may accept traffic on the input hook.
    type: list
    elements: str
    default: []
"""

RETURN = r"""
platform_table_drifted: {description: the loaded platform table differs from the rendered one (or is absent), type: bool}
platform_table_loaded: {description: the platform table is loaded at all, type: bool}
foreign_tables: {description: unexpected accepting tables, as family and name, type: list}
"""

import json
import subprocess

from ansible.module_utils.basic import AnsibleModule

NFT = "/usr/sbin/nft"


def canonical(doc):
    """nft -j output without what differs between two loads of the same script: metainfo, handles
    (kernel counters of objects), and the order of set elements (a set has none)."""
    def walk(x):
        if isinstance(x, dict):
            out = {k: walk(v) for k, v in x.items() if k != "handle"}
            for key in ("elem", "set"):
                if isinstance(out.get(key), list):
                    out[key] = sorted(out[key], key=lambda e: json.dumps(e, sort_keys=True))
            return out
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x
    return [walk(e) for e in doc.get("nftables", []) if "metainfo" not in e]


def accepts(expr):
    """True when an expression tree contains an accept verdict."""
    if isinstance(expr, dict):
        return "accept" in expr or any(accepts(v) for v in expr.values())
    if isinstance(expr, list):
        return any(accepts(v) for v in expr)
    return False


def main():
    module = AnsibleModule(
        argument_spec={
            "desired": {"type": "str", "required": True},
            "table": {"type": "str", "default": "inet platform"},
            "foreign_tables_allowed": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    p = module.params
    family, name = p["table"].split()

    def nft(*args, must=True):
        cmd = [NFT] + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if must and r.returncode != 0:
            module.fail_json(msg="%s failed (exit %d): %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
        return r

    # The rendered file, loaded into a new, empty network namespace (gone when the command exits):
    # the kernel holds it there exactly as it would on the host, without touching the host's
    # packet path. One shell inside it loads and lists.
    script = 'nft -f - && nft list table "$1" "$2" && echo "--- json" && nft -j list table "$1" "$2"'
    r = subprocess.run(["unshare", "--net", "--", "sh", "-ec", script, "sh", family, name],
                       input=p["desired"], capture_output=True, text=True, check=False)
    if r.returncode != 0 or "\n--- json\n" not in r.stdout:
        module.fail_json(msg="cannot load the rendered ruleset into a scratch network namespace "
                             "(unshare --net, nft -f -): exit %d: %s" % (r.returncode, r.stderr.strip()))
    want_text, want_json = r.stdout.split("\n--- json\n", 1)
    want_text = want_text.expandtabs(2) + "\n"
    want = canonical(json.loads(want_json))

    live = nft("list", "table", family, name, must=False)
    loaded = live.returncode == 0
    if loaded:
        have = canonical(json.loads(nft("-j", "list", "table", family, name).stdout))
        have_text = live.stdout.expandtabs(2)
    else:
        have, have_text = None, "# table %s %s is not loaded\n" % (family, name)
    table_drifted = have != want

    # Foreign tables: in nftables an accept ends the packet's walk through one base chain only
    # (the next chain on the hook still sees it, and our drop still applies), but a table that
    # accepts on input is how someone works around the firewall: it is drift unless declared.
    ruleset = json.loads(nft("-j", "list", "ruleset").stdout).get("nftables", [])
    tables = [(e["table"]["family"], e["table"]["name"]) for e in ruleset if "table" in e]
    allowed = {" ".join(t.split()) for t in p["foreign_tables_allowed"]} | {"%s %s" % (family, name)}
    foreign = []
    for fam, tname in tables:
        if "%s %s" % (fam, tname) in allowed:
            continue
        chains = [e["chain"] for e in ruleset if "chain" in e and (e["chain"]["family"], e["chain"]["table"]) == (fam, tname)]
        rules = [e["rule"] for e in ruleset if "rule" in e and (e["rule"]["family"], e["rule"]["table"]) == (fam, tname)]
        on_input = [c for c in chains if c.get("hook") == "input"]
        if on_input and (any(c.get("policy") == "accept" for c in on_input) or any(accepts(x.get("expr")) for x in rules)):
            foreign.append({"family": fam, "name": tname})
    foreign_text = "".join(
        "# foreign table that accepts on the input hook (not in firewall_foreign_tables_allowed)\n"
        + nft("list", "table", t["family"], t["name"]).stdout.expandtabs(2) for t in foreign)

    changed = table_drifted or bool(foreign)
    result = {
        "changed": changed,
        "platform_table_loaded": loaded,
        "platform_table_drifted": table_drifted,
        "foreign_tables": foreign,
    }
    # One diff per kind of drift: "-" lines are loaded and not rendered, "+" lines the reverse.
    diff = []
    if table_drifted:
        diff.append({
            "before_header": "loaded: nft list table %s %s" % (family, name),
            "after_header": "rendered: /etc/nftables.conf loaded into a scratch network namespace",
            "before": have_text,
            "after": want_text,
        })
    if foreign:
        diff.append({
            "before_header": "loaded: foreign tables that accept on the input hook",
            "after_header": "rendered: none (deleted by a converge)",
            "before": foreign_text,
            "after": "",
        })
    if diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
