#!/usr/bin/env bash
# What the workflows (.github/workflows/) do on the forge, as plain commands that also run on an
# operator's machine with `gh` logged in (GH_TOKEN and GITHUB_REPOSITORY=owner/name in CI).
#   forge.sh verdict GATE_JSON [LABEL...]     exit 0 if the gate may pass: "no-change", or "changes"
#                                             with the label changes-intended; 1 otherwise
#   forge.sh sticky-comment PR FILE           create, or update in place, the PR's one gate comment
#                                             (found by the marker on its first line)
#   forge.sh drift-issue EXIT BODY_FILE       after the nightly drift report (EXIT 0 clean, 3 drifted,
#                                             else broken): open or update the one open drift issue
#                                             (label "drift"), close it when clean; exits EXIT
# Nothing secret goes through here: the gate's and the drift report's Markdown carry no secret
# value (Secrets' values are hidden by the renderers).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

CHANGES_LABEL=changes-intended
DRIFT_LABEL=drift
repo() { printf '%s' "${GITHUB_REPOSITORY:?GITHUB_REPOSITORY=owner/name is needed}"; }

cmd="${1:-}"; [ $# -gt 0 ] && shift
case "$cmd" in
  verdict)
    json="${1:?usage: forge.sh verdict GATE_JSON [LABEL...]}"; shift
    [ -s "$json" ] || die "no gate report at $json: the gate did not run to the end"
    verdict="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' "$json")"
    case "$verdict" in
      no-change) log "gate: no change"; exit 0 ;;
      changes)
        for l in "$@"; do
          if [ "$l" = "$CHANGES_LABEL" ]; then log "gate: changes expected, and the PR is labelled $CHANGES_LABEL"; exit 0; fi
        done
        log "gate: changes expected (listed in the summary); label the PR '$CHANGES_LABEL' if they are intended"; exit 1 ;;
      *) log "gate: broken: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("reason",""))' "$json")"; exit 1 ;;
    esac ;;
  sticky-comment)
    pr="${1:?usage: forge.sh sticky-comment PR FILE}"; file="${2:?file}"
    marker="$(head -1 "$file")"
    [[ "$marker" == '<!--'*'-->' ]] || die "$file does not start with a marker comment"
    id="$(gh api --paginate "repos/$(repo)/issues/$pr/comments" --jq ".[] | select(.body | startswith(\"$marker\")) | .id" | head -1)"
    if [ -n "$id" ]; then
      gh api -X PATCH "repos/$(repo)/issues/comments/$id" -F "body=@$file" >/dev/null; log "updated comment $id on PR #$pr"
    else
      gh api -X POST "repos/$(repo)/issues/$pr/comments" -F "body=@$file" >/dev/null; log "commented on PR #$pr"
    fi ;;
  drift-issue)
    rc="${1:?usage: forge.sh drift-issue EXIT BODY_FILE}"; body="${2:?body file}"
    open="$(gh issue list --repo "$(repo)" --label "$DRIFT_LABEL" --state open --json number --jq '.[0].number // empty')"
    case "$rc" in
      0) if [ -n "$open" ]; then gh issue close "$open" --repo "$(repo)" --comment "Clean again: $(sed -n 2p "$body")"; log "closed drift issue #$open"; fi ;;
      3) if [ -n "$open" ]; then gh issue edit "$open" --repo "$(repo)" --body-file "$body" >/dev/null; log "updated drift issue #$open"
         else gh issue create --repo "$(repo)" --label "$DRIFT_LABEL" --title "Drift detected on prod" --body-file "$body"; fi ;;
      *) log "the drift report is broken (exit $rc): the issue is left as it is; see the job log" ;;
    esac
    exit "$rc" ;;
  *) die "usage: forge.sh verdict|sticky-comment|drift-issue ... (see the header of $0)" ;;
esac
