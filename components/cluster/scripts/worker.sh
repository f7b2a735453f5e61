
# --- worker: only the bootstrap token, then join ---
if [[ -f $root/etc/kubernetes/kubelet.conf ]]; then
  log "already a cluster member, kubeadm skipped"
else
  # A reachability probe only: workers hold no CA file, and kubeadm's discovery
  # trusts nothing until the CA matches the pinned hash.
  wait_api --insecure
  write_kubeadm_config
  log "kubeadm join"
  retry join_once
fi
log "worker $node_name joined"
