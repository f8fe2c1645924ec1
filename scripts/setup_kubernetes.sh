#!/usr/bin/env bash
# Builds the real Kubernetes control plane the tests run against: kube-apiserver,
# kube-controller-manager and kube-scheduler from the k8s.io/kubernetes module, and etcd from
# go.etcd.io/etcd/server/v3, at the versions tools/kubernetes/go.mod pins (go.sum checks them),
# through the Go module proxy. The binaries go to a cache outside the work tree, keyed by those
# versions: a second run reuses them. Prints what it builds and how long it took.
set -euo pipefail
cd "$(dirname "$0")/../tools/kubernetes"

# The versions go.mod pins (read from the file: Go is needed only to build).
version() { awk -v module="$1" '$1 == module && $2 ~ /^v/ {print $2; exit}' go.mod; }
kubernetes=$(version k8s.io/kubernetes)
etcd=$(version go.etcd.io/etcd/server/v3)
cache=${MIGRATION_TRIGGER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/migration-trigger}
bin=$cache/kubernetes/$kubernetes-etcd-$etcd/bin
components=(kube-apiserver kube-controller-manager kube-scheduler etcd)

missing=()
for component in "${components[@]}"; do [[ -x $bin/$component ]] || missing+=("$component"); done
if ((${#missing[@]} == 0)); then
  echo "setup-kubernetes: reusing Kubernetes $kubernetes and etcd $etcd in $bin"
  exit 0
fi

command -v go >/dev/null || { echo "setup-kubernetes: Go (1.26 or newer) is required" >&2; exit 1; }
mkdir -p "$bin"
minor=${kubernetes#v}; major=${minor%%.*}; minor=${minor#*.}; minor=${minor%%.*}
# The version the binaries report, as Kubernetes' own build stamps it (hack/lib/version.sh):
# kube-apiserver derives its emulation version and API defaults from it.
stamp=""
for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $package.gitVersion=$kubernetes -X $package.gitMajor=$major -X $package.gitMinor=$minor"
done
build() {  # build <output> <package>...
  local output=$1 started=$SECONDS
  shift
  echo "setup-kubernetes: building $* ..."
  go build -trimpath -ldflags "-s -w$stamp" -o "$output" "$@"
  echo "setup-kubernetes: built $* in $((SECONDS - started)) s"
}
started=$SECONDS
echo "setup-kubernetes: Kubernetes $kubernetes, etcd $etcd, into $bin (first build: several minutes)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build "$work/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler
build "$work/etcd" go.etcd.io/etcd/server/v3
# Moved in only once all are built: a cache directory is complete or absent.
for component in "${components[@]}"; do mv "$work/$component" "$bin/$component"; done
echo "setup-kubernetes: done in $((SECONDS - started)) s"
