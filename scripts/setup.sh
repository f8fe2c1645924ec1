#!/usr/bin/env bash
# Sets up everything the project needs on a fresh Debian machine: system packages (PostgreSQL,
# MariaDB's server and client for the MySQL session settings' test, kubectl), a virtual environment with the project and its development tools, and the npm-packaged
# migration tool used by the demo; with --validators, also the SAM CLI, cfn-lint and checkov; with
# --sam-local, also Docker's engine and debootstrap (`make sam-local`: `sam local invoke` in a
# container, its image built from Debian packages).
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

validators=false sam_local=false
for option in "$@"; do
  case $option in
    --validators) validators=true ;;
    --sam-local) sam_local=true ;;
    *) echo "setup: unknown option $option" >&2; exit 2 ;;
  esac
done

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

need_apt=()
[[ -x /usr/lib/postgresql/15/bin/initdb ]] || command -v initdb >/dev/null || need_apt+=(postgresql)
command -v mariadbd >/dev/null || [[ -x /usr/sbin/mariadbd ]] || need_apt+=(mariadb-server-core)
command -v mariadb >/dev/null || need_apt+=(mariadb-client-core)
command -v kubectl >/dev/null || need_apt+=(kubernetes-client)
command -v npm >/dev/null || need_apt+=(npm)
if $sam_local; then
  # An engine that already runs (Docker Desktop, a CI runner's) is used as it is.
  command -v dockerd >/dev/null || [[ -S /var/run/docker.sock ]] || need_apt+=(docker.io)
  command -v debootstrap >/dev/null || [[ -x /usr/sbin/debootstrap ]] || need_apt+=(debootstrap)
  # The deployed architecture (arm64) on an x86_64 machine runs under emulation.
  if [[ ${SAM_LOCAL_ARCH:-} == arm64 && $(uname -m) != aarch64 ]]; then
    [[ -x /usr/bin/qemu-aarch64-static ]] || need_apt+=(qemu-user-static)
  fi
fi
if ((${#need_apt[@]})); then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# The Lambda runtime is Python 3.13; develop on the same version so `sam build` can run without Docker.
find_python() {
  # pyenv shims exist for versions that are installed but not selected: run each candidate to be sure.
  for candidate in "${PYTHON:-}" "$HOME"/.pyenv/versions/3.13*/bin/python3.13 python3.13 \
    "$HOME"/.pyenv/versions/3.12*/bin/python3.12 python3.12; do
    [[ -n $candidate ]] && "$candidate" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null \
      && { echo "$candidate"; return; }
  done
  echo "setup: Python 3.13 or 3.12 is required (set PYTHON=...)" >&2
  exit 1
}

stamp=.venv/.setup-stamp
if [[ ! -f $stamp || pyproject.toml -nt $stamp || devtools/pyproject.toml -nt $stamp ]]; then
  [[ -x .venv/bin/python ]] || "$(find_python)" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  # The product with its test tools, and the development tooling (emulator, local stack) beside it.
  .venv/bin/python -m pip install -q -e ".[dev]" -e ./devtools
  touch "$stamp"
fi

# Validators with dependency pins that clash with the development tools (and with each other)
# get virtual environments of their own.
tool_venv() {
  local name=$1; shift
  local dir=.venv-tools/$name stamp=.venv-tools/$name/.setup-stamp
  if [[ ! -f $stamp || scripts/setup.sh -nt $stamp ]]; then
    [[ -x $dir/bin/python ]] || "$(find_python)" -m venv "$dir"
    "$dir/bin/python" -m pip install -q "$@"
    touch "$stamp"
  fi
}
if $validators; then
  tool_venv sam "aws-sam-cli==1.170.0" "cfn-lint==1.58.0"
  tool_venv checkov "checkov==3.3.30"
  # The reference EKS token minter the tests compare ours with: it wraps awscli v1 (291 MB with
  # its botocore, past Lambda's 250 MB), so it never enters the bundle or the dev venv.
  tool_venv eks-token "eks-token==0.3.0"
fi

if [[ -f tools/package.json ]] && [[ ! -d tools/node_modules || tools/package-lock.json -nt tools/node_modules ]]; then
  # `npm install` rather than `npm ci`: npm records only this platform's optional dbmate binary in
  # the lock file, which `npm ci` then calls out of sync.
  (cd tools && npm install --no-audit --no-fund --loglevel=error)
fi
echo "setup: ready"
