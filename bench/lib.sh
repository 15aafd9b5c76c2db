# Shared by the bench scripts: `source bench/lib.sh` from the repository root.

# venv_install PACKAGE...: creates bench/.venv on first use and installs the packages into it.
venv_install() {
  if [ ! -x bench/.venv/bin/python ]; then
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install --quiet --upgrade pip
  fi
  bench/.venv/bin/pip install --quiet "$@"
}

# build_veil: builds the release binary and sets VEIL to its path.
build_veil() {
  cargo build --release --quiet
  VEIL=target/release/veil
}
