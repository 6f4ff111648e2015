#!/usr/bin/env bash
# Bundling the seven stock handlers (tests/fixtures/stock with lambdas/ copied in):
# a cold `wsgen bundle` in an empty target directory, a no-op one (hyperfine), and the
# zip sizes. With --compare-profiles, also a cold build with cargo's plain `release`
# profile, to compare with wsgen's `wsgen-lambda` profile.
#
#   bash bench/bundle.sh [--compare-profiles]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
command -v hyperfine >/dev/null || { echo "install hyperfine first: apt-get install hyperfine" >&2; exit 1; }
cargo build --release --manifest-path "$repo/Cargo.toml" --bin wsgen >&2
wsgen="${CARGO_TARGET_DIR:-$repo/target}/release/wsgen"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
project="$work/stock"
cp -r "$repo/tests/fixtures/stock" "$project"
mkdir -p "$project/lambdas"
for d in "$repo"/lambdas/*/; do
  name=$(basename "$d")
  mkdir -p "$project/lambdas/$name"
  (cd "$d" && tar --exclude=./target -cf - .) | (cd "$project/lambdas/$name" && tar -xf -)
done
cp "$repo/Cargo.lock" "$project/Cargo.lock"
sed -i "s|\"\.\./\.\./\.\./\.\./crates/|\"$repo/crates/|" "$project/infra/Cargo.toml"
export CARGO_TARGET_DIR="$work/target"

"$wsgen" synth --project "$project" -q > /dev/null   # the infra crate, not part of the timing
echo "== cold wsgen bundle (wsgen-lambda profile, empty target directory)"
SECONDS=0
"$wsgen" bundle --project "$project" -q
echo "cold: ${SECONDS} s"
echo "== zips"
ls -l "$project"/wsgen.out/assets/*.zip | awk '{print $5, $9}'
python3 - "$project/wsgen.out/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for a in sorted(m["assets"].values(), key=lambda a: a["bin"]):
    print(f'{a["bin"]:>14} {a["bundle"]["size"]/1048576:6.2f} MiB zipped')
PY
echo "== no-op wsgen bundle"
hyperfine --warmup 2 --min-runs 20 "$wsgen bundle --project $project -q"

if [[ "${1:-}" == "--compare-profiles" ]]; then
  echo "== cold cargo build --release (cargo's plain release profile) of the same crates"
  SECONDS=0
  cargo build --release --manifest-path "$project/Cargo.toml" -p onconnect -p ondisconnect -p sendmessage -p default -p whoami -p sendto -p ticker -q
  echo "cold: ${SECONDS} s"
  ls -l "$CARGO_TARGET_DIR"/release/{onconnect,ondisconnect,sendmessage,default,whoami,sendto,ticker} | awk '{print $5, $9}'
fi
