#!/usr/bin/env bash
# Builds the local control plane's binaries from Go modules, once, into a cache
# outside the repo keyed by version: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok and helm. Nothing is downloaded except Go modules.
# Prints the bin directory on stdout; progress and timings go to stderr.
#
# `build-binaries.sh argocd` instead builds Argo CD (one binary serving every
# component) into a folder of its own, keyed by its version, with the files a
# run out of cluster needs next to it (CRDs, argocd-cm/argocd-secret, the
# repo-server's wrapper scripts), and prints that folder.
#
# `build-binaries.sh prometheus` builds the Prometheus server the same way into
# a folder of its own, keyed by its module version, and prints that folder.
#
# `build-binaries.sh gateway-api` copies the Gateway API's standard CRDs out of
# its Go module into a folder keyed by its version, and prints that folder.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.34.4}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
KWOK_VERSION=${KWOK_VERSION:-0.8.0}
HELM_VERSION=${HELM_VERSION:-3.19.5}
ARGOCD_VERSION=${ARGOCD_VERSION:-3.6.1}
# Prometheus 3.x is published as Go module v0.3xx.y (3.16.0 here).
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-0.316.0}
GATEWAY_API_VERSION=${GATEWAY_API_VERSION:-1.4.0}

CACHE=${BERTH_CACHE:-$HOME/.cache/berth}
BIN="$CACHE/bin/k8s-v$K8S_VERSION-etcd-v$ETCD_VERSION-kwok-v$KWOK_VERSION-helm-v$HELM_VERSION"
# GOFLAGS from the caller (e.g. -p 1 on a shared machine) are kept.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod ${GOFLAGS:-}"

log() { echo "[build-binaries] $*" >&2; }
have() { [ -x "$BIN/$1" ]; }
timed() { local name=$1; shift; local t0=$SECONDS; "$@"; log "$name built in $((SECONDS - t0))s"; }
# The test runner starts several planes at once: on a cold cache each would build the same
# binaries into the same folder. One build per target at a time; the others wait, then find it.
lock() { mkdir -p "$CACHE"; exec 9>"$CACHE/.lock-$1"; flock 9; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build_kubernetes() {
  local minor staging
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  staging="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
    cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
    cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
    kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
    mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller"
  mkdir -p "$work/k8s" && cd "$work/k8s"
  {
    printf 'module berth.local/k8sbins\n\ngo 1.24.0\n\ngodebug default=go1.24\n\n'
    printf 'require k8s.io/kubernetes v%s\n\nreplace (\n' "$K8S_VERSION"
    for m in $staging; do printf '\tk8s.io/%s => k8s.io/%s v0.%s\n' "$m" "$m" "${K8S_VERSION#1.}"; done
    printf ')\n'
  } > go.mod
  # The version ldflags upstream's hack/lib/version.sh sets; without them the
  # binaries report v0.0.0 and kubectl/helm version logic breaks.
  local ldf="-s -w" d
  d=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldf="$ldf -X $p.gitTreeState=clean -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.buildDate=$d"
  done
  go build -trimpath -ldflags "$ldf" -o "$work/k8s-out/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl
  mv "$work/k8s-out/"* "$BIN/"
}

build_etcd() {
  mkdir -p "$work/etcd" && cd "$work/etcd"
  printf 'module berth.local/etcdbin\n\ngo 1.24.0\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" > go.mod
  go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=v$ETCD_VERSION" \
    -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$BIN/etcd.tmp" "$BIN/etcd"
}

build_kwok() {
  GOBIN="$work/kwok-out" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  mv "$work/kwok-out/kwok" "$BIN/kwok"
}

build_helm() {
  local minor
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  GOBIN="$work/helm-out" go install -trimpath -ldflags "-s -w \
    -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION \
    -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor" \
    "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  mv "$work/helm-out/helm" "$BIN/helm"
}

# Argo CD v3.6 needs Go 1.27 (fetched as a toolchain module for this step
# only) and its nested gitops-engine module, which the module zip leaves out:
# it is built inside a writable copy of the module with the served
# gitops-engine of the same version put where its `replace` points.
build_argocd() {
  local dir=$1 src engine p="github.com/argoproj/argo-cd/v3/common"
  export GOTOOLCHAIN=go1.27.3
  mod_dir() { go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)",/\1/p'; }
  src=$(mod_dir "github.com/argoproj/argo-cd/v3@v$ARGOCD_VERSION")
  engine=$(mod_dir "github.com/argoproj/argo-cd/gitops-engine/v3@v$ARGOCD_VERSION")
  cp -r "$src" "$work/argo-cd" && chmod -R u+w "$work/argo-cd"
  cp -r "$engine" "$work/argo-cd/gitops-engine" && chmod -R u+w "$work/argo-cd/gitops-engine"
  cd "$work/argo-cd"
  # The controller binds its metrics and /healthz listener to 0.0.0.0 with no
  # flag to change it; the plane listens on 127.0.0.1 only.
  sed -i 's/"0.0.0.0:%d", metricsPort/"127.0.0.1:%d", metricsPort/' controller/appcontroller.go
  grep -q '"127.0.0.1:%d", metricsPort' controller/appcontroller.go
  # The version keys upstream's Makefile sets.
  go build -trimpath -ldflags "-s -w -X $p.version=$ARGOCD_VERSION -X $p.gitTag=v$ARGOCD_VERSION \
    -X $p.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ) -X $p.gitCommit=0000000000000000000000000000000000000000 \
    -X $p.gitTreeState=clean -X $p.kubectlVersion=v0.37.0" -o "$work/argocd" ./cmd
  mkdir -p "$dir.tmp/crds" "$dir.tmp/config"
  cp manifests/crds/application-crd.yaml manifests/crds/appproject-crd.yaml manifests/crds/applicationset-crd.yaml "$dir.tmp/crds/"
  cp manifests/base/config/argocd-cm.yaml manifests/base/config/argocd-secret.yaml "$dir.tmp/config/"
  # The image puts these on PATH; the repo-server runs git-verify-wrapper.sh on every manifest generation.
  cp hack/git-verify-wrapper.sh hack/gpg-wrapper.sh "$dir.tmp/"
  chmod +x "$dir.tmp/"*.sh
  mv "$work/argocd" "$dir.tmp/argocd"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

# Its go.mod has no `replace`, so `go install @version` builds it as published.
# Upstream's tags less builtinassets: the web UI is left out (the API and
# /-/ready are all the harness uses). First build: 23 min (1380 s) on 2 cores
# shared with a cargo build; cached after that.
build_prometheus() {
  local dir=$1 p="github.com/prometheus/common/version" v="3.${PROMETHEUS_VERSION#0.3}"
  mkdir -p "$dir.tmp"
  GOBIN="$dir.tmp" go install -trimpath -tags netgo -ldflags "-s -w -X $p.Version=$v -X $p.Branch=HEAD \
    -X $p.Revision=0000000000000000000000000000000000000000 -X $p.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)" \
    "github.com/prometheus/prometheus/cmd/prometheus@v$PROMETHEUS_VERSION"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

# The standard channel (HTTPRoute, Gateway, GatewayClass, GRPCRoute,
# ReferenceGrant, BackendTLSPolicy), as the release's standard-install.yaml has them.
copy_gateway_api() {
  local dir=$1 src
  src=$(go mod download -json "sigs.k8s.io/gateway-api@v$GATEWAY_API_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  mkdir -p "$dir.tmp"
  cp "$src"/config/crd/standard/*.yaml "$dir.tmp/"
  chmod u+w "$dir.tmp"/*.yaml
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

lock "${1:-plane}"

if [ "${1:-}" = gateway-api ]; then
  GATEWAY_API_DIR="$CACHE/gateway-api-v$GATEWAY_API_VERSION"
  [ -f "$GATEWAY_API_DIR/gateway.networking.k8s.io_httproutes.yaml" ] || timed "gateway-api v$GATEWAY_API_VERSION" copy_gateway_api "$GATEWAY_API_DIR"
  echo "$GATEWAY_API_DIR"
  exit 0
fi

if [ "${1:-}" = prometheus ]; then
  PROMETHEUS_DIR="$CACHE/prometheus-v$PROMETHEUS_VERSION"
  [ -x "$PROMETHEUS_DIR/prometheus" ] || timed "prometheus v$PROMETHEUS_VERSION" build_prometheus "$PROMETHEUS_DIR"
  echo "$PROMETHEUS_DIR"
  exit 0
fi

if [ "${1:-}" = argocd ]; then
  ARGOCD_DIR="$CACHE/argocd-v$ARGOCD_VERSION"
  [ -x "$ARGOCD_DIR/argocd" ] || timed "argocd v$ARGOCD_VERSION" build_argocd "$ARGOCD_DIR"
  echo "$ARGOCD_DIR"
  exit 0
fi

mkdir -p "$BIN"
have etcd || timed etcd build_etcd
have kwok || timed kwok build_kwok
have helm || timed helm build_helm
if ! have kube-apiserver || ! have kube-controller-manager || ! have kube-scheduler || ! have kubectl; then
  timed kubernetes build_kubernetes
fi
echo "$BIN"
