#!/bin/bash
# Upgrades one control plane to a Kubernetes version, kubeadm's way
# (kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade/): the apt source
# of the new minor, kubeadm, `kubeadm upgrade apply` (the first member) or
# `kubeadm upgrade node` (the others), then the kubelet and kubectl, drained; and it
# waits until this member's API server, etcd and node are healthy again.
# Sent by SSM Run Command (components/cluster/control_plane_upgrade.py), one member at a
# time, first member first. Run again, it does what is left: a member already on the
# version only has its health checked. Rendered with components/cluster/userdata.fill.
set -Eeuo pipefail
root="${PODIUM_ROOT:-}"
target=$PODIUM_TARGET_VERSION
first=$PODIUM_FIRST_MEMBER
drain=$PODIUM_DRAIN
node=$PODIUM_NODE_NAME
health_seconds=$PODIUM_HEALTH_SECONDS
minor=${target%.*}
export KUBECONFIG=/etc/kubernetes/admin.conf DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a
keyring=/etc/apt/keyrings/kubernetes-apt-keyring.gpg
# apt-daily or unattended-upgrades may hold the lock for a while: wait, do not fail.
apt=(apt-get -q -o DPkg::Lock::Timeout=600)

# SSM keeps only the first 24,000 characters of output: the whole of it stays here.
mkdir -p "$root/var/log"
exec > >(tee -a "$root/var/log/podium-upgrade.log") 2>&1

log() { TZ=UTC printf '%(%FT%TZ)T podium-upgrade: %s\n' -1 "$*" >&2; }
trap 'log "FAILED (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

installed() { # installed PACKAGE: its version, as `kubeadm version` prints it (v1.36.4)
  local printed
  case $1 in
  kubeadm) kubeadm version -o short ;;
  kubelet) printed=$(kubelet --version) && echo "${printed##* }" ;;
  esac
}

healthy() {
  local node_state pods image
  kubectl get --raw=/readyz >/dev/null || return 1
  node_state=$(kubectl get node "$node" -o jsonpath='{.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type=="Ready")].status}')
  [[ $node_state == "v$target True" ]] || return 1
  pods=$(kubectl -n kube-system get pod "etcd-$node" "kube-apiserver-$node" -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status} {end}')
  [[ $pods == "True True " ]] || return 1
  # This member's API server runs the new version (its static pod was regenerated).
  image=$(kubectl -n kube-system get pod "kube-apiserver-$node" -o jsonpath='{.spec.containers[0].image}')
  [[ $image == *":v$target" ]]
}

wait_healthy() {
  local deadline=$((SECONDS + health_seconds))
  until healthy; do
    if ((SECONDS >= deadline)); then
      log "$node is not healthy after ${health_seconds}s: API server, etcd and node must be Ready on v$target"
      return 1
    fi
    sleep 10
  done
  log "$node healthy on v$target"
}

if [[ $(installed kubeadm) == "v$target" && $(installed kubelet) == "v$target" ]]; then
  log "$node already runs v$target"
  kubectl uncordon "$node" # a run that stopped after the kubelet's restart left it cordoned
  wait_healthy
  exit 0
fi

log "$node: upgrading to v$target"
mkdir -p "$root/etc/apt/keyrings"
curl -fsSL -o "$root/etc/apt/keyrings/kubernetes-release.key" "https://pkgs.k8s.io/core:/stable:/v$minor/deb/Release.key"
gpg --batch --yes --dearmor -o "$root$keyring" "$root/etc/apt/keyrings/kubernetes-release.key"
echo "deb [signed-by=$keyring] https://pkgs.k8s.io/core:/stable:/v$minor/deb/ /" >"$root/etc/apt/sources.list.d/kubernetes.list"
"${apt[@]}" update

if [[ $(installed kubeadm) != "v$target" ]]; then
  "${apt[@]}" install -y --allow-change-held-packages "kubeadm=$target-*"
  apt-mark hold kubeadm
fi
# Static pod manifests are rewritten from the kubeadm-config ConfigMap, where every flag
# Podium sets lives; certificates are renewed as kubeadm does by default.
if [[ $first == true ]]; then
  kubeadm upgrade plan "v$target"
  kubeadm upgrade apply -y "v$target"
else
  kubeadm upgrade node
fi

# With one control plane there is nowhere to drain to: the pods pinned to control planes
# (the EBS CSI controller's two replicas and their budget) would hold the drain forever.
if [[ $drain == true ]]; then
  kubectl drain "$node" --ignore-daemonsets --delete-emptydir-data --timeout=10m
fi
"${apt[@]}" install -y --allow-change-held-packages "kubelet=$target-*" "kubectl=$target-*"
apt-mark hold kubelet kubectl
systemctl daemon-reload
systemctl restart kubelet
kubectl uncordon "$node"
wait_healthy
