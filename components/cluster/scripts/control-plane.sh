
# --- control plane: shared PKI, encryption at rest, audit, etcd volume, helpers ---
pki_path=$PODIUM_PKI_PARAMETER_PATH
encryption_key_parameter=$PODIUM_ENCRYPTION_KEY_PARAMETER
encryption_config=$PODIUM_ENCRYPTION_CONFIG
encryption_config_path=$PODIUM_ENCRYPTION_CONFIG_PATH
audit_policy=$PODIUM_AUDIT_POLICY
audit_policy_path=$PODIUM_AUDIT_POLICY_PATH
etcd_volume_id=$PODIUM_ETCD_VOLUME_ID
snapshot_minutes=$PODIUM_SNAPSHOT_MINUTES
etcd_snapshot_script=$PODIUM_ETCD_SNAPSHOT_SCRIPT
token_sync_script=$PODIUM_TOKEN_SYNC_SCRIPT

# SSM name <pki_path>/etcd/ca.key -> /etc/kubernetes/pki/etcd/ca.key; keys 0600.
pki_writer='
import json, os, sys
prefix, dest = sys.argv[1].rstrip("/") + "/", sys.argv[2]
for p in json.load(sys.stdin)["Parameters"]:
    rel = p["Name"][len(prefix):]
    if not p["Name"].startswith(prefix) or ".." in rel.split("/"):
        sys.exit("unexpected PKI parameter " + p["Name"])
    path = os.path.join(dest, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(p["Value"].rstrip("\n") + "\n")
    os.chmod(path + ".tmp", 0o600 if rel.endswith(".key") else 0o644)
    os.replace(path + ".tmp", path)
'

install_pki() {
  local json file
  json=$(retry aws ssm get-parameters-by-path --path "$pki_path" --recursive --with-decryption --output json) || return 1
  printf '%s' "$json" | python3 -I -S -c "$pki_writer" "$pki_path" "$root/etc/kubernetes/pki" || return 1
  # Without them kubeadm init would quietly mint a new CA that no worker's pinned hash matches.
  for file in ca.crt ca.key sa.key sa.pub front-proxy-ca.crt front-proxy-ca.key etcd/ca.crt etcd/ca.key; do
    if [[ ! -s $root/etc/kubernetes/pki/$file ]]; then
      log "PKI file $file missing under SSM path $pki_path"
      return 1
    fi
  done
  log "cluster PKI written from $pki_path"
}

write_encryption_config() {
  local key
  key=$(retry ssm_get "$encryption_key_parameter")
  printf '%s\n' "${encryption_config//'${ENCRYPTION_KEY}'/"$key"}" | put 0600 "$encryption_config_path"
}

# The volume attaches after the instance starts; it is formatted only when blkid
# finds nothing on it, so a replaced instance reuses the etcd data.
mount_etcd_volume() {
  local dev="$root/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${etcd_volume_id/-/}"
  local dir="$root/var/lib/etcd" attempt fstype rc uuid
  for attempt in $(seq 1 120); do
    [[ -e $dev ]] && break
    log "waiting for etcd volume $etcd_volume_id ($attempt/120)"
    sleep 5
  done
  if [[ ! -e $dev ]]; then
    log "etcd volume $etcd_volume_id never appeared"
    return 1
  fi
  if fstype=$(blkid -p -o value -s TYPE "$dev"); then rc=0; else rc=$?; fi
  if ((rc == 2)); then
    log "formatting empty etcd volume $etcd_volume_id"
    mkfs.ext4 -q -L etcd "$dev"
  elif ((rc != 0)) || [[ $fstype != ext4 ]]; then
    log "etcd volume $etcd_volume_id holds '$fstype' (blkid exit $rc): refusing to touch it"
    return 1
  fi
  uuid=$(blkid -p -o value -s UUID "$dev")
  if ! grep -qs '^[^#]*[[:space:]]/var/lib/etcd[[:space:]]' "$root/etc/fstab"; then
    echo "UUID=$uuid /var/lib/etcd ext4 defaults,noatime,nofail 0 2" >>"$root/etc/fstab"
  fi
  mkdir -p "$dir"
  mountpoint -q "$dir" || mount -t ext4 -o defaults,noatime "$dev" "$dir"
  if ! mountpoint -q "$dir"; then
    log "etcd volume $etcd_volume_id is not mounted on /var/lib/etcd"
    return 1
  fi
  chmod 0700 "$dir"
  # kubeadm's preflight wants an empty data dir; rmdir never removes data.
  rmdir "$dir/lost+found" 2>/dev/null || true
}

# timer_unit NAME MINUTES DESCRIPTION: oneshot /usr/local/sbin/NAME every MINUTES.
timer_unit() {
  put 0644 "/etc/systemd/system/$1.service" <<EOF
[Unit]
Description=$3
Wants=network-online.target
After=network-online.target kubelet.service
[Service]
Type=oneshot
Environment=NODE_NAME=$node_name
ExecStart=/usr/local/sbin/$1
EOF
  put 0644 "/etc/systemd/system/$1.timer" <<EOF
[Unit]
Description=$3, every $2 minutes
[Timer]
OnActiveSec=$2min
OnUnitActiveSec=$2min
RandomizedDelaySec=60
[Install]
WantedBy=timers.target
EOF
}

printf '%s\n' "$audit_policy" | put 0644 "$audit_policy_path"
mount_etcd_volume
# fstab's nofail keeps a boot without the volume reachable for repair; this keeps
# the kubelet, and so the etcd static pod, from starting on an empty directory of
# the root disk then (for a single control plane, an empty cluster).
put 0644 /etc/systemd/system/kubelet.service.d/20-podium-etcd-volume.conf <<'EOF'
[Unit]
RequiresMountsFor=/var/lib/etcd
EOF
systemctl daemon-reload
printf '%s\n' "$etcd_snapshot_script" | put 0755 /usr/local/sbin/podium-etcd-snapshot
printf '%s\n' "$token_sync_script" | put 0755 /usr/local/sbin/podium-token-sync
timer_unit podium-etcd-snapshot "$snapshot_minutes" "Podium etcd snapshot to S3"
timer_unit podium-token-sync 10 "Podium bootstrap token sync from SSM"

if [[ $role == init ]]; then done_file=admin.conf; else done_file=kubelet.conf; fi
if [[ -f $root/etc/kubernetes/$done_file ]]; then
  # A member already: rewriting its PKI or encryption key from SSM could only break it.
  log "already a cluster member, kubeadm skipped"
else
  install_pki
  write_encryption_config
  if [[ $role == init ]]; then
    write_kubeadm_config
    log "kubeadm init"
    # The PKI comes from SSM, so no --upload-certs; the token stays out of the log.
    kubeadm init --config "$root$kubeadm_file" --skip-token-print
  else
    wait_api --cacert "$root/etc/kubernetes/pki/ca.crt"
    write_kubeadm_config
    log "kubeadm join --control-plane"
    retry join_once
  fi
fi

systemctl daemon-reload
systemctl enable --now podium-etcd-snapshot.timer podium-token-sync.timer
log "control plane $node_name is ready"
