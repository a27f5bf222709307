#!/usr/bin/env bash
# Incremental developer build of the C++ engine into build/dev, copied next to
# the Python sources so `PYTHONPATH=. python ...` (and pytest from the tree)
# uses it. Serialised with a lock: several people may build in one tree.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>build/.dev_build.lock 2>/dev/null || { mkdir -p build; exec 9>build/.dev_build.lock; }
flock 9
if [ ! -f build/dev/CMakeCache.txt ]; then
  cmake -S cpp -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -Dpybind11_DIR="$(python -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
    -DPython_EXECUTABLE="$(command -v python)" >/dev/null
fi
if ! cmake --build build/dev -j2 > build/dev/last_build.log 2>&1; then
  grep -v '^\[' build/dev/last_build.log | head -80
  exit 1
fi
# copy then rename: processes that have the old module mapped keep a valid file
for so in build/dev/_engine*.so; do
  cp -f "$so" "softneuro_ep/.$(basename "$so").tmp"
  mv -f "softneuro_ep/.$(basename "$so").tmp" "softneuro_ep/$(basename "$so")"
done
