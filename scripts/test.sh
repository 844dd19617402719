#!/usr/bin/env bash
# Set up with the test extras, lint, and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
# PostgreSQL for the history store's tests (tests/postgres.py starts a throwaway server on 127.0.0.1)
if ! command -v pg_ctl >/dev/null && ! compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "installing PostgreSQL (Debian's postgresql package) for the history-store tests"
    # no cluster of its own on port 5432: the tests make theirs in a temporary folder
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
      mkdir -p /etc/postgresql-common
      echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Options::=--force-confold postgresql >/dev/null
  else
    echo "note: PostgreSQL is not installed (sudo apt-get install postgresql); its tests will be skipped" >&2
  fi
fi
export HF_HUB_OFFLINE=1
.venv/bin/ruff check bot tests benchmarks
.venv/bin/mypy
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$rc"
