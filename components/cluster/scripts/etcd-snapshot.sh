#!/bin/bash
# Podium: snapshot this control plane's etcd member and upload it to S3. Run by
# podium-etcd-snapshot.timer, which sets NODE_NAME. The snapshot holds Secrets
# encrypted with the cluster's secretbox key: a restore needs that key as well.
# For Prometheus, through node-exporter's textfile collector: when each kubeadm
# certificate of this control plane expires (first, so a failing snapshot does not hide
# it), then when the last snapshot was uploaded.
set -euo pipefail
root="${PODIUM_ROOT:-}"
bucket=$PODIUM_BUCKET
cluster_name=$PODIUM_CLUSTER_NAME
textfiles="$root"$PODIUM_TEXTFILE_DIRECTORY
snapshot_metric=$PODIUM_SNAPSHOT_METRIC
certificate_metric=$PODIUM_CERTIFICATE_METRIC
export AWS_DEFAULT_REGION=$PODIUM_REGION
export PATH="$PATH:/snap/bin"
node_name=${NODE_NAME:?NODE_NAME is set by podium-etcd-snapshot.service}

# publish NAME TEXT: a textfile written whole and renamed, so a scrape never reads half
# of it; readable by node-exporter's unprivileged user.
publish() {
  mkdir -p "$textfiles"
  printf '%s' "$2" >"$textfiles/$1.prom.tmp"
  chmod 0644 "$textfiles/$1.prom.tmp"
  mv "$textfiles/$1.prom.tmp" "$textfiles/$1.prom"
}

pki="$root/etc/kubernetes/pki"
printf -v expiries '# HELP %s When a kubeadm certificate of this control plane expires.\n# TYPE %s gauge\n' \
  "$certificate_metric" "$certificate_metric"
for certificate in "$pki"/*.crt "$pki"/etcd/*.crt; do
  [[ -f $certificate ]] || continue
  end=$(openssl x509 -noout -enddate -in "$certificate")
  name=${certificate#"$pki"/}
  name=${name%.crt}
  printf -v line '%s{certificate="%s"} %s\n' "$certificate_metric" "${name//\//-}" "$(date -u -d "${end#notAfter=}" +%s)"
  expiries+=$line
done
publish podium-certificates "$expiries"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
file=podium-snapshot-$stamp.db
# The etcd container mounts /var/lib/etcd from the host, so the file lands on the etcd
# volume. crictl talks to containerd on this host: neither the API server nor this
# node's kubelet serving certificate is in the path.
export CONTAINER_RUNTIME_ENDPOINT=unix:///run/containerd/containerd.sock
trap 'rm -f "$root/var/lib/etcd/$file" "$root/var/lib/etcd/$file.part"' EXIT
container=$(crictl ps --name '^etcd$' --state running --quiet | head -n 1)
if [[ -z $container ]]; then
  echo "no running etcd container on $node_name" >&2
  exit 1
fi
crictl exec "$container" \
  etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt \
  --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key \
  snapshot save "/var/lib/etcd/$file"
target="s3://$bucket/etcd/$cluster_name/$node_name/$stamp.db"
aws s3 cp --only-show-errors "$root/var/lib/etcd/$file" "$target"
printf -v uploaded '# HELP %s When this control plane last uploaded an etcd snapshot.\n# TYPE %s gauge\n%s %s\n' \
  "$snapshot_metric" "$snapshot_metric" "$snapshot_metric" "$(date -u +%s)"
publish podium-etcd-snapshot "$uploaded"
echo "etcd snapshot uploaded to $target"
