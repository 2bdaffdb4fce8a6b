#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` from the llama.cpp sources vendored in the source
# distribution of the pinned llama-cpp-python, so the local/remote engine is tested against the
# same llama.cpp as the embedded engine. The binary is cached under
# .cache/llama-server/<version>/ (gitignored): a second run prints its path and exits at once.
#
#   scripts/build-llama-server.sh [VERSION]
#
# VERSION defaults to the llama-cpp-python pin in pyproject.toml. Environment:
#   PYTHON        the Python whose pip downloads the source distribution (default: python3)
#   LLAMA_SDIST   an already downloaded llama_cpp_python-VERSION.tar.gz (skips the download)
#   BUILD_JOBS    parallel compile jobs (default: the number of cores)
#   BURROW_BUILD_CACHE  a second cache outside the checkout (default:
#                 ~/.cache/burrow-build), so a fresh clone on the same machine (CI) copies
#                 the binary instead of compiling again
# Prints the binary's path on the last line of stdout; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:-$(sed -n 's/.*"llama-cpp-python==\([^"]*\)".*/\1/p' pyproject.toml | head -n 1)}
if [ -z "$version" ]; then
    echo "build-llama-server: no llama-cpp-python pin in pyproject.toml; pass a version" >&2
    exit 2
fi
dest=".cache/llama-server/$version"
if [ -x "$dest/llama-server" ]; then
    echo "$PWD/$dest/llama-server"
    exit 0
fi
machine_cache="${BURROW_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/burrow-build}/llama-server/$version"
if [ -x "$machine_cache/llama-server" ]; then
    mkdir -p "$dest"
    install -m 0755 "$machine_cache/llama-server" "$dest/llama-server"
    echo "build-llama-server: copied from $machine_cache" >&2
    echo "$PWD/$dest/llama-server"
    exit 0
fi

python=${PYTHON:-python3}
jobs=${BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}
work=$(mktemp -d "${TMPDIR:-/tmp}/burrow-llama-server.XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$(date +%s)

sdist=${LLAMA_SDIST:-}
if [ -z "$sdist" ]; then
    echo "build-llama-server: downloading the llama-cpp-python $version source distribution" >&2
    "$python" -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$version" \
        -d "$work/sdist" >&2
    sdist=$(ls "$work"/sdist/llama_cpp_python-*.tar.gz | head -n 1)
fi
tar -xzf "$sdist" -C "$work"
src=$(ls -d "$work"/llama_cpp_python-*/vendor/llama.cpp | head -n 1)

# Only what llama-server needs: no tests, examples, web UI download (the build would fetch
# prebuilt UI assets from the network), curl or OpenSSL; static libraries so the binary stands
# alone; native CPU flags like llama-cpp-python's own build of the same sources.
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
echo "build-llama-server: configuring llama.cpp from $(basename "$sdist")" >&2
cmake -S "$src" -B "$work/build" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=ON \
    -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF >&2
echo "build-llama-server: compiling llama-server with $jobs jobs (nice 10)" >&2
nice -n 10 cmake --build "$work/build" --target llama-server -j "$jobs" >&2

mkdir -p "$dest"
chmod 700 .cache .cache/llama-server "$dest" 2>/dev/null || true
install -m 0755 "$work/build/bin/llama-server" "$dest/llama-server.tmp"
mv "$dest/llama-server.tmp" "$dest/llama-server"
if mkdir -p "$machine_cache" 2>/dev/null; then
    install -m 0755 "$dest/llama-server" "$machine_cache/llama-server.tmp" &&
        mv "$machine_cache/llama-server.tmp" "$machine_cache/llama-server" || true
fi
echo "build-llama-server: built in $(($(date +%s) - started)) s" >&2
echo "$PWD/$dest/llama-server"
