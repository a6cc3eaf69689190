#!/usr/bin/env bash
# The lab's own secrets, once per lab (scripts/lab/up.sh): `platform secrets init lab --keep` makes
# the lab's age key and the SOPS-encrypted file of fresh values in $PLATFORM_LAB_DIR, or keeps and
# checks the ones there. Only `down.sh --purge` removes them. The lab's key is its own: an
# operator's SOPS_AGE_KEY_FILE is not used here. Usage: secrets.sh
set -euo pipefail
exec env -u SOPS_AGE_KEY_FILE node "$(cd "$(dirname "$0")/../.." && pwd)/cli/platform.js" secrets init lab --keep
