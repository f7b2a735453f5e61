#!/bin/bash
# Podium node bootstrap (EC2 user data). Rendered by components/userdata.py.
# Safe to run again: every step checks what is already done. -E: the ERR trap
# below also reports failures inside functions.
set -Eeuo pipefail
# Every path written is under $root, so tests can run this in a scratch directory.
root="${PODIUM_ROOT:-}"
role=$PODIUM_ROLE
cluster_name=$PODIUM_CLUSTER_NAME
export AWS_DEFAULT_REGION=$PODIUM_REGION
k8s_version=$PODIUM_KUBERNETES_VERSION
api_endpoint=$PODIUM_API_ENDPOINT
token_parameter=$PODIUM_TOKEN_PARAMETER
kubeadm_config=$PODIUM_KUBEADM_CONFIG
containerd_version=$PODIUM_CONTAINERD_VERSION
containerd_url=$PODIUM_CONTAINERD_URL
containerd_sha256=$PODIUM_CONTAINERD_SHA256
runc_url=$PODIUM_RUNC_URL
runc_sha256=$PODIUM_RUNC_SHA256
cni_url=$PODIUM_CNI_URL
cni_sha256=$PODIUM_CNI_SHA256
sandbox_image=$PODIUM_SANDBOX_IMAGE
containerd_unit=$PODIUM_CONTAINERD_UNIT
kubeadm_file=/etc/kubernetes/podium/kubeadm.yaml
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a
# cloud-init's PATH may lack /snap/bin, where the AWS CLI lands.
export PATH="$PATH:/snap/bin"

mkdir -p "$root/var/log"
exec > >(tee -a "$root/var/log/podium-bootstrap.log") 2>&1
# Logs go to stderr so functions stay usable inside $(...); bash's own clock, no fork.
log() { TZ=UTC printf '%(%FT%TZ)T podium: %s\n' -1 "$*" >&2; }
trap 'log "FAILED (exit $?) at line $LINENO: $BASH_COMMAND"' ERR
imds=http://169.254.169.254/latest
imds_get() {
  local token
  token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$imds/api/token") &&
    curl -fsS -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/$1"
}

# A worker that cannot join would stay "healthy" to its group's EC2 health check
# forever. Stopped, it is not (only a running instance is healthy), so the group
# replaces it; the console output keeps this log. Not `set-instance-health`: every pod
# that reaches the node role (IMDS hop limit 2) could then take down any worker.
give_up() {
  log "bootstrap failed, see above; powering off so that the auto-scaling group replaces this instance"
  poweroff
}

on_exit() {
  local rc=$?
  # The rendered kubeadm config holds the bootstrap token: never leave it behind.
  rm -f "$root$kubeadm_file"
  if ((rc != 0)) && [[ $role == worker ]]; then give_up; fi
}
trap on_exit EXIT

# retry CMD...: bounded attempts with exponential backoff. Logs the command name
# only, never its arguments. Callers' functions must return non-zero themselves:
# set -e does not apply inside a condition.
retry() {
  local attempt=1 delay=2
  until "$@"; do
    if ((attempt >= 8)); then
      log "giving up on $1 after $attempt attempts"
      return 1
    fi
    log "$1 failed (attempt $attempt), retrying in ${delay}s"
    sleep "$delay"
    attempt=$((attempt + 1))
    delay=$((delay * 2 > 60 ? 60 : delay * 2))
  done
}

# put MODE PATH: stdin to $root/PATH, never readable by others while being written.
put() {
  local dest="$root$2"
  mkdir -p "$(dirname "$dest")"
  (umask 077 && cat >"$dest.tmp")
  chmod "$1" "$dest.tmp"
  mv -f "$dest.tmp" "$dest"
}

ssm_get() { aws ssm get-parameter --name "$1" --with-decryption --query Parameter.Value --output text; }

apt_install() { apt-get -o DPkg::Lock::Timeout=300 install -y -q "$@"; }

# wait_api CURL-OPTION...: the API server answers /readyz, bounded to ~20 minutes.
wait_api() {
  local attempt
  for attempt in $(seq 1 120); do
    if curl -fsS -o /dev/null --max-time 5 "$@" "https://$api_endpoint/readyz"; then
      log "API server $api_endpoint is ready"
      return 0
    fi
    log "waiting for API server $api_endpoint ($attempt/120)"
    sleep 10
  done
  log "API server $api_endpoint never became ready"
  return 1
}

# A failed join leaves half-written state that makes the next attempt fail preflight.
join_once() {
  kubeadm join --config "$root$kubeadm_file" && return 0
  log "kubeadm join failed, resetting before the next attempt"
  kubeadm reset -f >/dev/null 2>&1 || true
  if [[ $role == control-plane ]]; then
    # kubeadm reset removes /etc/kubernetes/pki, which the join needs.
    install_pki || return 1
  fi
  return 1
}

log "bootstrap of a $role node for cluster $cluster_name"

log "kernel prerequisites"
swapoff -a
if [[ -f $root/etc/fstab ]]; then
  sed -ri '/^[^#].*\sswap\s/s/^/#/' "$root/etc/fstab"
fi
printf '%s\n' overlay br_netfilter | put 0644 /etc/modules-load.d/podium-k8s.conf
modprobe overlay
modprobe br_netfilter
# vm.* and kernel.panic*: the kubelet's protectKernelDefaults refuses to start
# when these differ from what it expects.
put 0644 /etc/sysctl.d/90-podium-k8s.conf <<'EOF'
net.ipv4.ip_forward = 1
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
vm.overcommit_memory = 1
vm.panic_on_oom = 0
kernel.panic = 10
kernel.panic_on_oops = 1
EOF
sysctl --system >/dev/null

log "containerd $containerd_version from its release, runc, CNI plugins"
retry apt-get -o DPkg::Lock::Timeout=300 update -q
retry apt_install ca-certificates curl gpg
# fetch URL SHA256 DEST: a download is installed only if its SHA-256 is the pinned one.
fetch() {
  local dest="$root$3"
  mkdir -p "$(dirname "$dest")"
  retry curl -fsSL -o "$dest" "$1" || return 1
  if ! sha256sum -c --quiet - <<<"$2  $dest"; then
    log "SHA-256 of $1 is not the pinned $2: not installing it"
    rm -f "$dest"
    return 1
  fi
}
fetch "$containerd_url" "$containerd_sha256" /var/cache/podium/containerd.tar.gz
fetch "$runc_url" "$runc_sha256" /var/cache/podium/runc
fetch "$cni_url" "$cni_sha256" /var/cache/podium/cni-plugins.tgz
mkdir -p "$root/usr/local" "$root/usr/local/sbin" "$root/opt/cni/bin"
tar -xzf "$root/var/cache/podium/containerd.tar.gz" -C "$root/usr/local"
put 0755 /usr/local/sbin/runc <"$root/var/cache/podium/runc"
tar -xzf "$root/var/cache/podium/cni-plugins.tgz" -C "$root/opt/cni/bin"
# The config format follows the major: version 3 only on containerd 2.x.
reported=$(containerd --version)
if [[ $reported != *" v$containerd_version "* ]]; then
  log "containerd reports '$reported', expected v$containerd_version: not configuring it"
  exit 1
fi
printf '%s\n' "$containerd_unit" | put 0644 /etc/systemd/system/containerd.service
# containerd 2.x: config version 3, CRI plugin ids io.containerd.cri.v1.*; the sandbox
# image is the one kubeadm expects for this minor, so no second pause image is pulled.
put 0644 /etc/containerd/config.toml <<EOF
version = 3
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = true
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = '$sandbox_image'
EOF
systemctl daemon-reload
systemctl enable containerd
systemctl restart containerd

log "kubelet, kubeadm, kubectl $k8s_version"
minor=${k8s_version%.*}
keyring=/etc/apt/keyrings/kubernetes-apt-keyring.gpg
mkdir -p "$root/etc/apt/keyrings"
retry curl -fsSL -o "$root/etc/apt/keyrings/kubernetes-release.key" "https://pkgs.k8s.io/core:/stable:/v$minor/deb/Release.key"
gpg --batch --yes --dearmor -o "$root$keyring" "$root/etc/apt/keyrings/kubernetes-release.key"
echo "deb [signed-by=$keyring] https://pkgs.k8s.io/core:/stable:/v$minor/deb/ /" |
  put 0644 /etc/apt/sources.list.d/kubernetes.list
retry apt-get -o DPkg::Lock::Timeout=300 update -q
retry apt_install --allow-change-held-packages "kubelet=$k8s_version-*" "kubeadm=$k8s_version-*" "kubectl=$k8s_version-*"
apt-mark hold kubelet kubeadm kubectl
systemctl enable kubelet

log "AWS CLI"
if ! command -v aws >/dev/null; then
  retry snap wait system seed.loaded
  retry snap install aws-cli --classic
fi

# The AWS cloud provider expects the node name to be the EC2 private DNS name.
node_name=$(retry imds_get local-hostname)
log "node name $node_name"

# write_kubeadm_config: the placeholders filled with bash expansion, so the token
# never appears on a command line or in the log.
write_kubeadm_config() {
  local token config
  token=$(retry ssm_get "$token_parameter")
  config=${kubeadm_config//'${NODE_NAME}'/"$node_name"}
  printf '%s\n' "${config//'${BOOTSTRAP_TOKEN}'/"$token"}" | put 0600 "$kubeadm_file"
}
