#!/usr/bin/env bash
# Create .venv with the Python named in .python-version and install requirements.lock into it.
# Called by the Makefile whenever requirements.lock is newer than the last install.
# It never falls back to another Python: a wrong interpreter would silently change results.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(tr -d '[:space:]' < .python-version)
is_wanted() {
    "$1" -c "import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$want' else 1)" \
        >/dev/null 2>&1
}

python=""
for candidate in "python$want" "$HOME/.pyenv/versions/$want"*/bin/"python$want" \
                 "/usr/local/bin/python$want" "/usr/bin/python$want"; do
    if is_wanted "$candidate"; then
        python=$(command -v "$candidate")
        break
    fi
done
if [ -z "$python" ]; then
    echo "error: this project needs Python $want (see .python-version), and none was found." >&2
    echo "       Install it (for example: pyenv install $want) and run make again." >&2
    echo "       It will not fall back to another Python version." >&2
    exit 1
fi

if [ -x .venv/bin/python ] && ! is_wanted .venv/bin/python; then
    echo "Removing .venv: it was built with another Python than $want." >&2
    rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $python"
    "$python" -m venv .venv
fi
echo "Installing requirements.lock into .venv (first run takes about a minute)"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.lock
# The project itself, editable, for the `ketamine-opioid` command. Its dependencies are already
# pinned by the lock (--no-deps), and setuptools came with them (--no-build-isolation: no
# second download of the build backend). setuptools prints a long notice on stderr even when
# this succeeds, so stderr is shown only if it fails (by running it again).
PYTHONWARNINGS=ignore .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e . 2>/dev/null \
    || .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
touch .venv/.installed
