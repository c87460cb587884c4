#!/usr/bin/env bash
# The peerpyrtc suite: pytest (Debian's python3-pytest) on Debian's /usr/bin/python3 with the
# module of build/ (or $BUILD_DIR), real wrtc peers from node. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/python/peerpyrtc/__init__.py" ] || ! compgen -G "$BUILD_DIR/python/peerpyrtc/_peerpyrtc*.so" >/dev/null; then
  echo "tests/python: $BUILD_DIR/python/peerpyrtc is not built (needs pybind11-dev: ./scripts/setup.sh && ./scripts/build.sh)" >&2
  exit 1
fi
# The whole suite must finish in 2 minutes; each test waits on markers with 15 s bounds.
export PYTHONPATH="$PWD/$BUILD_DIR/python" PYTHONDONTWRITEBYTECODE=1
exec timeout -k 10 120 /usr/bin/python3 -m pytest -p no:cacheprovider -q --durations=5 tests/python "$@"
