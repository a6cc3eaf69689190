# Evidence of every run, for audits and drift reports.
# SPDX-License-Identifier: MIT
from __future__ import annotations

DOCUMENTATION = r"""
name: platform_evidence
type: notification
short_description: Write a JSON (and a text) evidence file per playbook run
description:
  - When the environment variable C(PLATFORM_EVIDENCE_DIR) is set, writes at the end of the run
    C(<dir>/ansible-<UTC timestamp>-<correlation id>[-<tags>].json) and a human summary C(.txt) beside it.
  - The JSON holds the correlation id, playbook, requested and skipped tags, check/diff mode,
    start/end/duration, per host and per role counts and durations, the recap per host, and one
    record per task result (host, play, role, task, action, status, diff present, duration).
  - For changed tasks with a diff (check mode with --diff is a drift report) a short summary of the
    diff is recorded (headers and a few changed lines, truncated). Results of no_log tasks never
    contribute content, and lines that look like secrets are redacted.
  - The correlation id comes from C(PLATFORM_CORRELATION_ID), or the extra var
    C(platform_correlation_id), made by the one generator (lib/operator/correlation.ts, used by
    the platform command and the program's runs); a run by hand without one is recorded as
    C(uncorrelated). It is printed once at playbook start.
requirements:
  - enabled in ansible.cfg (callbacks_enabled = platform_evidence)
"""

import datetime
import difflib
import json
import os
import re
import time

from ansible import context
from ansible.playbook.handler import Handler
from ansible.plugins.callback import CallbackBase

try:
    from ansible.utils.vars import load_extra_vars
except ImportError:  # pragma: no cover
    load_extra_vars = None

MAX_DIFF_LINES = 12
MAX_LINE = 160
# After a word like these, the next value must be harmless (a yes/no-like word or a path), else the
# line is redacted: "PasswordAuthentication yes" stays, "password = s3cr3t" goes.
SECRET_WORD = re.compile(r"(pass(word|wd)?|secret|token|private[_ -]?key|api[_-]?key|credential)[\w.-]*", re.I)
SAFE_VALUES = {
    "yes", "no", "true", "false", "on", "off", "none", "", "prohibit-password", "without-password",
    "forced-commands-only", "scram-sha-256", "md5", "peer", "trust", "reject", "ident",
}
# Anything that looks like key material (WireGuard/base64 keys, long hex/base64 strings).
KEY_MATERIAL = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}|[0-9a-f]{48,}", re.I)
SSH_PUBLIC_KEY = re.compile(r"((?:ssh|ecdsa|sk)-[a-z0-9@.-]+) (AAAA[A-Za-z0-9+/]+={0,2})(.*)$")
NO_ROLE = "(play)"


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _iso(ts):
    return ts.isoformat(timespec="seconds").replace("+00:00", "Z")


def _safe_name(value):
    return re.sub(r"[^A-Za-z0-9._-]+", "-", value)[:80] or "none"


def _truncate(line):
    line = line.rstrip("\n")
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "..."


def _redact(line):
    marker = line[:1] if line[:1] in "+- " else ""
    # An SSH public key is public, and which key it is matters in an access-drift report: keep its
    # type, the last 8 characters of its base64 and its comment.
    ssh_key = SSH_PUBLIC_KEY.search(line)
    if ssh_key:
        return "%s%s ...%s %s" % (marker, ssh_key.group(1), ssh_key.group(2)[-8:], ssh_key.group(3).strip())
    if KEY_MATERIAL.search(line):
        return marker + " <redacted: looks like key material>"
    for match in SECRET_WORD.finditer(line):
        rest = line[match.end():].lstrip(" \t=:")
        value = rest.split()[0] if rest.split() else ""
        value = value.strip("'\";,").lower()
        if value not in SAFE_VALUES and not value.startswith(("/", "%")):
            return marker + " <redacted: looks like a secret>"
    return line


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "platform_evidence"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.out_dir = os.environ.get("PLATFORM_EVIDENCE_DIR", "")
        self.correlation_id = os.environ.get("PLATFORM_CORRELATION_ID", "")
        self.started = _now()
        self.started_mono = time.monotonic()
        self.playbook = None
        self.play_name = None
        self.task_start = {}
        self.results = []
        self.per_host_role = {}
        self.announced = False

    # ---------------------------------------------------------------- helpers
    def _cli(self, key, default=None):
        try:
            return context.CLIARGS.get(key, default)
        except Exception:  # noqa: BLE001 - a callback must never break a run
            return default

    def _extra_var_cid(self, loader):
        if load_extra_vars is None or loader is None:
            return ""
        try:
            value = load_extra_vars(loader).get("platform_correlation_id", "")
            return str(value) if value else ""
        except Exception:  # noqa: BLE001
            return ""

    def _announce(self):
        if self.announced:
            return
        self.announced = True
        where = self.out_dir or "off (PLATFORM_EVIDENCE_DIR unset)"
        self._display.display(
            "platform-evidence: correlation_id=%s playbook=%s evidence=%s"
            % (self.correlation_id, self.playbook, where)
        )

    @staticmethod
    def _role_of(task):
        role = getattr(task, "_role", None)
        if role is None:
            return NO_ROLE
        try:
            return role.get_name(include_role_fqcn=False)
        except TypeError:
            return role.get_name()

    @staticmethod
    def _task_name(task, role):
        name = task.get_name()
        prefix = "%s : " % role
        return name[len(prefix):] if name.startswith(prefix) else name

    def _start(self, task, handler=False):
        self.task_start[task._uuid] = time.monotonic()

    def _diff_summary(self, result, task):
        """A few changed lines of each diff in the result; nothing for no_log tasks."""
        res = result._result
        diffs = []

        def collect(r):
            d = r.get("diff")
            if isinstance(d, dict):
                diffs.append(d)
            elif isinstance(d, list):
                diffs.extend(x for x in d if isinstance(x, dict))

        collect(res)
        for item in res.get("results", []) or []:
            if isinstance(item, dict):
                collect(item)
        if not diffs:
            return False, None
        if task.no_log or res.get("_ansible_no_log") or res.get("censored"):
            return True, [{"censored": "no_log task: diff content withheld"}]
        summary = []
        for d in diffs:
            entry = {}
            for key in ("before_header", "after_header"):
                if d.get(key):
                    entry[key] = _truncate(str(d[key]))
            before, after = d.get("before"), d.get("after")
            lines = []
            if isinstance(before, str) or isinstance(after, str):
                udiff = difflib.unified_diff(
                    str(before or "").splitlines(), str(after or "").splitlines(), lineterm="", n=0
                )
                for line in udiff:
                    if line.startswith(("---", "+++", "@@")):
                        continue
                    lines.append(line)
            elif isinstance(before, dict) or isinstance(after, dict):
                # e.g. file/systemd state changes: {'state': 'absent'} -> {'state': 'file'}
                b, a = before or {}, after or {}
                for k in sorted(set(b) | set(a)):
                    if b.get(k) != a.get(k):
                        lines.append("%s: %s -> %s" % (k, b.get(k), a.get(k)))
            if d.get("prepared"):
                lines.extend(str(d["prepared"]).splitlines())
            entry["changed_lines"] = len(lines)
            entry["lines"] = [_truncate(_redact(x)) for x in lines[:MAX_DIFF_LINES]]
            if len(lines) > MAX_DIFF_LINES:
                entry["truncated"] = True
            summary.append(entry)
        return True, summary

    def _record(self, result, status):
        task = result._task
        host = result._host.get_name()
        role = self._role_of(task)
        started = self.task_start.get(task._uuid)
        duration = round(time.monotonic() - started, 3) if started is not None else None
        diff_present, diff_summary = self._diff_summary(result, task)
        rec = {
            "host": host,
            "play": self.play_name,
            "role": role,
            "task": self._task_name(task, role),
            "action": task.action,
            "status": status,
            "handler": isinstance(task, Handler),
            "diff_present": diff_present,
            "no_log": bool(task.no_log),
            "duration_s": duration,
        }
        if status == "changed" and diff_summary is not None:
            rec["diff_summary"] = diff_summary
        if status == "changed" and not (task.no_log or result._result.get("censored")):
            # Which items of a loop changed (the account locked, the key file removed, ...).
            items = [_truncate(_redact(str(r.get("_ansible_item_label", r.get("item")))))
                     for r in result._result.get("results", []) or [] if isinstance(r, dict) and r.get("changed")]
            if items:
                rec["items"] = items[:MAX_DIFF_LINES]
        if status == "changed" and not (task.no_log or result._result.get("censored")):
            # What changed, for results without a diff (a service started, a handler ran).
            what = {k: result._result[k] for k in ("name", "state", "enabled", "dest", "path")
                    if isinstance(result._result.get(k), (str, bool, int))}
            if what:
                rec["result"] = what
        if status in ("failed", "unreachable", "ignored"):
            msg = result._result.get("msg", "")
            if task.no_log or result._result.get("censored"):
                msg = "(no_log)"
            rec["message"] = _truncate(str(msg))
        self.results.append(rec)
        counts = self.per_host_role.setdefault(host, {}).setdefault(
            role, {"ok": 0, "changed": 0, "failed": 0, "skipped": 0, "unreachable": 0, "ignored": 0, "duration_s": 0.0}
        )
        # Like the recap: a changed task is also ok.
        if status in ("ok", "changed"):
            counts["ok"] += 1
        if status == "changed":
            counts["changed"] += 1
        elif status in counts and status != "ok":
            counts[status] += 1
        if duration:
            counts["duration_s"] = round(counts["duration_s"] + duration, 3)

    # ---------------------------------------------------------------- events
    def v2_playbook_on_start(self, playbook):
        self.playbook = os.path.abspath(getattr(playbook, "_file_name", "") or "")
        if not self.correlation_id:
            self.correlation_id = self._extra_var_cid(getattr(playbook, "_loader", None))
        if not self.correlation_id:
            # Not an operator action: ids are made in one place (lib/operator/correlation.ts).
            self.correlation_id = "uncorrelated"
        self._announce()

    def v2_playbook_on_play_start(self, play):
        self.play_name = play.get_name()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._start(task, handler=True)

    def v2_runner_on_ok(self, result):
        self._record(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        if not self.out_dir:
            return
        try:
            self._write(stats)
        except Exception as exc:  # noqa: BLE001 - report, never fail the run
            self._display.warning("platform-evidence: could not write evidence: %s" % exc)

    # ---------------------------------------------------------------- output
    def _write(self, stats):
        ended = _now()
        duration = round(time.monotonic() - self.started_mono, 3)
        recap = {h: stats.summarize(h) for h in sorted(stats.processed.keys())}
        check = bool(self._cli("check", False))
        doc = {
            "schema": "platform-evidence/ansible/v1",
            "correlation_id": self.correlation_id,
            "playbook": self.playbook,
            "inventory": list(self._cli("inventory", ()) or ()),
            "tags": list(self._cli("tags", ()) or ()),
            "skip_tags": list(self._cli("skip_tags", ()) or ()),
            "limit": self._cli("subset", None),
            "check_mode": check,
            "diff_mode": bool(self._cli("diff", False)),
            "started": _iso(self.started),
            "ended": _iso(ended),
            "duration_s": duration,
            "recap": recap,
            "ok": all(r.get("failures", 0) == 0 and r.get("unreachable", 0) == 0 for r in recap.values()),
            "changed_total": sum(r.get("changed", 0) for r in recap.values()),
            "hosts": self.per_host_role,
            "tasks": self.results,
        }
        os.makedirs(self.out_dir, exist_ok=True)
        stem = "ansible-%s-%s" % (self.started.strftime("%Y%m%dT%H%M%SZ"), _safe_name(self.correlation_id))
        # Runs of one correlation id can start in the same second (a refresh checks its domains side
        # by side): the requested tags keep their records apart.
        if doc["tags"]:
            stem += "-" + _safe_name(",".join(doc["tags"]))
        base = os.path.join(self.out_dir, stem)
        with open(base + ".json.tmp", "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, sort_keys=False)
            fh.write("\n")
        os.replace(base + ".json.tmp", base + ".json")
        with open(base + ".txt", "w", encoding="utf-8") as fh:
            fh.write(self._text(doc))
        self._display.display("platform-evidence: wrote %s.json" % base)

    @staticmethod
    def _text(doc):
        mode = "CHECK (drift report)" if doc["check_mode"] else "APPLY"
        lines = [
            "Ansible run %s" % doc["correlation_id"],
            "playbook: %s" % doc["playbook"],
            "mode: %s%s" % (mode, " +diff" if doc["diff_mode"] else ""),
            "tags: %s   skip-tags: %s   limit: %s"
            % (",".join(doc["tags"]) or "all", ",".join(doc["skip_tags"]) or "-", doc["limit"] or "-"),
            "started %s  ended %s  (%.1f s)" % (doc["started"], doc["ended"], doc["duration_s"]),
            "result: %s, %d changed" % ("OK" if doc["ok"] else "FAILED", doc["changed_total"]),
            "",
        ]
        for host, roles in sorted(doc["hosts"].items()):
            r = doc["recap"].get(host, {})
            lines.append(
                "%s  ok=%s changed=%s unreachable=%s failed=%s skipped=%s"
                % (host, r.get("ok"), r.get("changed"), r.get("unreachable"), r.get("failures"), r.get("skipped"))
            )
            for role, c in roles.items():
                lines.append(
                    "  %-12s ok=%d changed=%d failed=%d skipped=%d (%.1f s)"
                    % (role, c["ok"], c["changed"], c["failed"], c["skipped"], c["duration_s"])
                )
        changed = [t for t in doc["tasks"] if t["status"] in ("changed", "failed", "unreachable")]
        if changed:
            lines += ["", "%s tasks:" % ("Drifted (would change)" if doc["check_mode"] else "Changed/failed")]
            for t in changed:
                lines.append("  [%s] %s / %s: %s (%s)" % (t["status"], t["host"], t["role"], t["task"], t["action"]))
                if t.get("items"):
                    lines.append("      items: " + ", ".join(t["items"]))
                if t.get("result") and not t.get("diff_summary"):
                    lines.append("      " + ", ".join("%s=%s" % kv for kv in sorted(t["result"].items())))
                for d in t.get("diff_summary") or []:
                    if not isinstance(d, dict):
                        continue
                    if d.get("censored"):
                        lines.append("      " + d["censored"])
                        continue
                    header = d.get("before_header") or d.get("after_header")
                    if header:
                        lines.append("      %s" % header)
                    for x in d.get("lines", [])[:6]:
                        lines.append("      " + x)
        return "\n".join(lines) + "\n"
