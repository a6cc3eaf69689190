#!/usr/bin/env bash
# Print the tool-cache directory that holds the lab's OCI images for this checkout's sources and
# pins (scripts/lib/common.sh images_dir; built by `bash scripts/toolchain/ensure.sh images`).
# The lab inventory reads it (k3s_lab_images_dir) when PLATFORM_IMAGES_DIR is not set.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
images_dir
