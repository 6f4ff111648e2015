#!/usr/bin/env bash
# A no-op `wsgen deploy` of the chat fixture against moto's server on loopback (the
# engine the tests use; .ci/run installs it in .venv): bootstrap and a first deploy
# outside the timing, then hyperfine runs `wsgen deploy` with nothing to change. Each
# run synthesizes (cached infra binary), finds every zip bundled, checks the four assets
# in the bucket, creates a change set that CloudFormation reports as empty, and prints
# the outputs.
#
#   bash bench/deploy-noop.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
command -v hyperfine >/dev/null || { echo "install hyperfine first: apt-get install hyperfine" >&2; exit 1; }
[[ -x "$repo/.venv/bin/python" ]] || { echo "run bash .ci/run once first (it installs moto into .venv)" >&2; exit 1; }
cargo build --release --manifest-path "$repo/Cargo.toml" --bin wsgen >&2
wsgen="${CARGO_TARGET_DIR:-$repo/target}/release/wsgen"

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$repo/.venv/bin/python" "$repo/tests/engine/moto_server.py" "$port" 2>"$work/moto.log" &
moto=$!
trap 'kill $moto 2>/dev/null; rm -rf "$work"' EXIT
project="$work/chat"
cp -r "$repo/tests/fixtures/chat" "$project"
rm -rf "$project/wsgen.out" "$project/target"
# Paths into this checkout, made absolute for the copy.
sed -i "s|\"\.\./\.\./\.\./\.\./crates/|\"$repo/crates/|" "$project/infra/Cargo.toml"
sed -i "s|\"\.\./\.\./\.\./\.\./\.\./blueprints/|\"$repo/blueprints/|" "$project/infra/src/main.rs"
export CARGO_TARGET_DIR="$work/target" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$port"
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null; do sleep 0.2; done

"$wsgen" bootstrap -q
"$wsgen" deploy --project "$project" --require-approval never -q > /dev/null
hyperfine --warmup 3 --runs 30 "$wsgen deploy --project $project -q"
