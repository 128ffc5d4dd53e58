#!/bin/bash
# Builds the Debian packages (backupd, backup-client) from this checkout, in a scratch copy so the
# working tree stays untouched:
#
#   packaging/build-deb.sh [-o OUTDIR] [--check] [--install-deps]
#
# OUTDIR (default: build-deb/ in the checkout) receives backupd_<version>_<arch>.deb,
# backup-client_<version>_<arch>.deb and the .buildinfo/.changes files. --check runs the test
# suite during the build (off by default: .ci/run runs it on its own). --install-deps first
# installs the build dependencies with apt-get build-dep (as root), then builds as usual.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$src/build-deb
check=0
install_deps=0

while [ $# -gt 0 ]; do
  case "$1" in
    -o) out=$2; shift 2 ;;
    --check) check=1; shift ;;
    --install-deps) install_deps=1; shift ;;
    -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-deb.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# The package version must say what the code says.
cmake_version=$(sed -n 's/^project(backupd VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
deb_version=$(dpkg-parsechangelog -l "$src/packaging/debian/changelog" -S Version)
if [ "${deb_version%%-*}" != "$cmake_version" ]; then
  echo "build-deb.sh: packaging/debian/changelog says $deb_version but CMakeLists.txt says" \
    "$cmake_version; add a changelog entry (dch -v $cmake_version)" >&2
  exit 1
fi

scratch=$(mktemp -d /tmp/backupd-deb.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
tree=$scratch/backupd-$deb_version
mkdir "$tree"

# Tracked and untracked-but-not-ignored files: no build folders, no stale debian/.
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$src" && git ls-files -z --cached --others --exclude-standard) |
    tar -C "$src" --null --files-from=- --ignore-failed-read -cf - | tar -C "$tree" -xf -
else
  tar -C "$src" --exclude='./build*' --exclude=./debian -cf - . | tar -C "$tree" -xf -
fi
rm -rf "$tree/debian"
cp -rL "$src/packaging/debian" "$tree/debian"

if [ "$install_deps" = 1 ]; then
  apt-get build-dep -y "$tree"
fi

DEB_BUILD_OPTIONS="parallel=$(nproc)${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}"
export DEB_BUILD_OPTIONS
profiles=()
if [ "$check" = 0 ]; then
  DEB_BUILD_OPTIONS="$DEB_BUILD_OPTIONS nocheck"
  profiles=(-Pnocheck)
fi

(cd "$tree" && dpkg-buildpackage -us -uc -b "${profiles[@]}")

mkdir -p "$out"
for f in "$scratch"/*.deb "$scratch"/*.buildinfo "$scratch"/*.changes; do
  [ -e "$f" ] || continue
  mv -f "$f" "$out/"
  echo "$out/$(basename "$f")"
done
