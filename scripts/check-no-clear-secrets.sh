#!/usr/bin/env bash
# Fails when a versioned file holds a secret in clear: every tracked file matching the secrets
# pattern (*.sops.yaml, *.sops.json, secrets*.y*ml) must be SOPS-encrypted (sops metadata with a
# MAC, every value ENC[...]), and no tracked file may contain an age private key.
# Usage: check-no-clear-secrets.sh [REPO_DIR]   (default: this repository)
set -euo pipefail
repo="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$repo"
bad=0
while IFS= read -r -d '' f; do
  case "$f" in
    .sops.yaml|*/.sops.yaml) ;; # SOPS's own configuration (creation rules, public keys only)
    *.sops.yaml|*.sops.yml|*.sops.json|*/secrets*.yaml|*/secrets*.yml|secrets*.yaml|secrets*.yml)
      if ! grep -q '^sops:' "$f" || ! grep -q 'mac: ENC\[' "$f"; then
        echo "not SOPS-encrypted: $f" >&2; bad=1; continue
      fi
      # Every leaf value above the sops block must be an ENC[...] envelope.
      if awk '/^sops:/{exit} /^[^#]*:[[:space:]]+[^[:space:]]/ && !/ENC\[/ {print FILENAME": "FNR": clear value"; found=1} END{exit found}' "$f" >&2; then :; else bad=1; fi
      ;;
  esac
done < <(git ls-files -z)
if git grep -l -I 'AGE-SECRET-KEY-1' -- . ':!scripts/check-no-clear-secrets.sh' ':!docs/**' ':!tests/**' >/dev/null 2>&1; then
  echo "an age private key is committed in: $(git grep -l -I 'AGE-SECRET-KEY-1' -- . ':!scripts/check-no-clear-secrets.sh' ':!docs/**' ':!tests/**' | tr '\n' ' ')" >&2
  bad=1
fi
[ "$bad" -eq 0 ] && echo "no clear-text secret in versioned files"
exit "$bad"
