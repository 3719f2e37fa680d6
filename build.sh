#!/usr/bin/env bash
# The one entry script: ./build.sh setup | build | test | bench [SCENARIO] [--quick]
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# Debian packages the tests need, with the reason for each.
declare -A WHY=(
  [postgresql]="PostgreSQL 15 server: CDC and PostgreSQL sink tests start it as a child process"
  [clickhouse-server]="ClickHouse server: sink tests start it as a child process"
  [clickhouse-client]="clickhouse-client: insert-limit peer in benchmarks"
  [kafkacat]="kcat: Kafka mock-cluster host for benchmarks (the package installs the kcat binary)"
)
have_pkg() {
  case "$1" in
    postgresql) compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null ;;
    clickhouse-server) [ -x /usr/sbin/clickhouse-server ] || [ -x /usr/bin/clickhouse-server ] ;;
    clickhouse-client) command -v clickhouse-client >/dev/null ;;
    kafkacat) command -v kcat >/dev/null || command -v kafkacat >/dev/null ;;
  esac
}

setup() {
  local missing=()
  for p in postgresql clickhouse-server clickhouse-client kafkacat; do
    if ! have_pkg "$p"; then missing+=("$p"); fi
  done
  if ! command -v dotnet >/dev/null; then
    echo "setup: the .NET 10 SDK (dotnet) is required and not on PATH" >&2; exit 2
  fi
  if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all test dependencies present (postgresql, clickhouse-server, clickhouse-client, kcat)"
    return 0
  fi
  for p in "${missing[@]}"; do echo "setup: installing $p — ${WHY[$p]}"; done
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: not root; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  # The Debian postgresql package starts a cluster of its own; tests run their own servers.
  if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h 2>/dev/null | while read -r ver name _; do pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true; done
  fi
}

build() {
  dotnet build AiEtl.Engine.sln -c Release -nologo -clp:ErrorsOnly
}

test_all() {
  setup
  build
  local log
  log=$(mktemp)
  set +e
  # One test assembly at a time: both at once on 2 cores overloads the machine (the integration servers run
  # beside them), and two hangs not yet explained were seen only that way.
  dotnet test --solution AiEtl.Engine.sln -c Release --no-build --max-parallel-test-modules 1 "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  # One plain closing line summed over every test assembly.
  awk '/^Test run summary/ {s=1} s && /^ *failed:/ {f+=$2} s && /^ *succeeded:/ {p+=$2} s && /^ *skipped:/ {k+=$2}
       END {printf "tests: %d passed, %d failed, %d skipped\n", p, f, k}' "$log"
  rm -f "$log"
  return "$rc"
}

bench() {
  local scenario="${1:-core}"; shift || true
  dotnet run -c Release --project bench/AiEtl.Bench -- "$scenario" "$@"
}

cmd="${1:-}"; shift || true
case "$cmd" in
  setup) setup ;;
  build) build ;;
  test) test_all "$@" ;;
  bench) bench "$@" ;;
  *) echo "usage: ./build.sh setup | build | test | bench [SCENARIO] [--quick]" >&2; exit 2 ;;
esac
