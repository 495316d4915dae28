#!/usr/bin/env bash
# The forks we carry, made from their upstream release and our patches (FORKS, patches/):
#   apply  downloads each release (checked against its SHA-256), and writes it with its patches
#          applied to vendor/<name>/, which [patch.crates-io] builds; skipped while up to date;
#   check  applies everything again in a scratch directory and fails unless the result is
#          vendor/<name>/ exactly, and unless each release still records the commit FORKS names;
#   test   runs each fork's own tests (its unit, integration and doc tests), on the forks.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=$here/.upstream
target=${CARGO_TARGET_DIR:-$here/../target}/forks

forks() { grep -v '^#' "$here/FORKS" | awk 'NF == 5'; }

# The release's archive, downloaded once and checked.
fetch() {
  local name=$1 version=$2 sha=$3 file=$cache/$1-$2.crate
  mkdir -p "$cache"
  if [ ! -f "$file" ] || ! echo "$sha  $file" | sha256sum --check --status; then
    curl -sSfL --retry 3 --max-time 120 -o "$file.part" \
      "https://static.crates.io/crates/$name/$name-$version.crate"
    echo "$sha  $file.part" | sha256sum --check --status \
      || { echo "$name $version: the download is not the release FORKS names (SHA-256)" >&2; exit 1; }
    mv "$file.part" "$file"
  fi
  echo "$file"
}

# Writes release + patches of one fork to $4/<name>/.
build() {
  local name=$1 version=$2 sha=$3 into=$4 commit=$5 archive
  archive=$(fetch "$name" "$version" "$sha")
  rm -rf "${into:?}/$name" "$into/$name-$version"
  mkdir -p "$into"
  tar -xzf "$archive" -C "$into"
  mv "$into/$name-$version" "$into/$name"
  grep -q "\"sha1\": \"$commit\"" "$into/$name/.cargo_vcs_info.json" \
    || { echo "$name $version: the release does not record commit $commit" >&2; exit 1; }
  for patch in "$here/patches/$name"/*.patch; do
    # Outside any repository (vendor/ is inside ours), so the paths are the fork's.
    (cd "$into/$name" && GIT_CEILING_DIRECTORIES=$into git apply --whitespace=nowarn "$patch") \
      || { echo "$name: $(basename "$patch") does not apply to $version" >&2; exit 1; }
  done
}

# What the forks are made from: a change to any of it makes them again.
recipe_hash() { cat "$here/FORKS" "$here"/patches/*/*.patch "$0" | sha256sum | cut -d' ' -f1; }

apply() {
  local stamp=$here/.applied hash
  hash=$(recipe_hash)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then return; fi
  forks | while read -r name version sha repo commit; do
    build "$name" "$version" "$sha" "$here" "$commit"
    echo "vendor/$name: $name $version ($repo@${commit:0:12}), patched"
  done
  echo "$hash" >"$stamp"
}

check() {
  local scratch
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' RETURN
  forks | while read -r name version sha repo commit; do
    build "$name" "$version" "$sha" "$scratch" "$commit"
    diff -r "$scratch/$name" "$here/$name" >/dev/null \
      || { echo "vendor/$name differs from $name $version with its patches: run $0 apply" >&2; exit 1; }
    echo "vendor/$name: $name $version and its patches, as applied"
  done
}

# Each fork's own tests, built on its own (its dev-dependencies resolved for it) from a copy, so
# vendor/ stays as applied, with the forks it depends on patched in as the workspace has them
# (the release's Cargo.lock, which pins their unpatched versions, left out).
test_forks() {
  local copies=$target/src
  forks | while read -r name _; do
    echo "== $name"
    rm -rf "${copies:?}/$name" && mkdir -p "$copies" && cp -r "$here/$name" "$copies/$name"
    rm -f "$copies/$name/Cargo.lock"
    printf '\n[workspace]\n' >>"$copies/$name/Cargo.toml"
    local patches=() other log=$copies/$name.log
    for other in $(forks | awk '{print $1}'); do
      if grep -Eq "^\[(dev-)?dependencies\.$other\]" "$copies/$name/Cargo.toml"; then
        patches+=(--config "patch.crates-io.$other.path=\"$here/$other\"")
      fi
    done
    # imap-codec's crate docs include its repository's README, which the release leaves out,
    # so its doc tests cannot build from the release; its other tests run.
    local targets=()
    [ "$name" != imap-codec ] || targets=(--lib --bins --tests --examples)
    "${CARGO:-cargo}" test --manifest-path "$copies/$name/Cargo.toml" --target-dir "$target" \
      --all-features "${targets[@]}" "${patches[@]}" >"$log" 2>&1 \
      || { tail -30 "$log"; echo "$name: its own tests fail ($log)" >&2; exit 1; }
    grep -E '^test result' "$log"
    ! grep -q 'was not used in the crate graph' "$log" \
      || { grep -A3 'was not used' "$log"; echo "$name: a fork was not patched in" >&2; exit 1; }
  done
}

case ${1:-} in
  apply) apply ;;
  check) check ;;
  test) apply && test_forks ;;
  *) echo "usage: $0 apply|check|test" >&2; exit 2 ;;
esac
