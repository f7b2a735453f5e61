# The NAT instance's boot script (natMode instance), run by cloud-init at first boot and,
# installed as podium-nat.service, at every boot after: kernel settings and iptables
# rules do not survive a reboot. The values above it are filled in by nat_instance.py.
#
# Why this order: the private route tables point at the fixed interface ($PODIUM_ENI_ID),
# so traffic flows the moment it is attached. Masquerading is set up first; the interface
# is attached next (retrying while the instance being replaced still holds it); the
# Elastic IP moves last, so an old instance keeps working until its successor has the
# interface. A step that cannot succeed powers the instance off: its Auto Scaling group
# then replaces it, instead of keeping a NAT that forwards nothing.
# -E: the ERR trap also fires for a failure inside a function.
set -Eeuo pipefail
# Every path written is under $root, so tests can run this in a scratch directory.
root="${PODIUM_ROOT:-}"
# cloud-init's PATH may lack /snap/bin, where the AWS CLI lands.
export PATH="$PATH:/snap/bin"

log() { echo "podium-nat: $*" >&2; }
fail() {
  log "FAILED: $*; powering off so that the Auto Scaling group replaces this instance"
  poweroff
  exit 1
}
trap 'fail "line $LINENO exited with $?"' ERR

# retry ATTEMPTS DELAY COMMAND...: the command until it succeeds.
retry() {
  local attempts=$1 delay=$2 i
  shift 2
  for ((i = 1; i <= attempts; i++)); do
    if "$@"; then return 0; fi
    log "attempt $i/$attempts failed: $*"
    sleep "$delay"
  done
  return 1
}

imds() {
  curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}

# interface_with MAC: the kernel's name for the interface with that MAC address
# (`ip -o link` prints "2: ens5: <...> ... link/ether 0e:..:.. brd ...").
interface_with() {
  local mac=$1 line pattern
  pattern="^[0-9]+: ([^:@ ]+)[:@].* link/ether $mac "
  while read -r line; do
    if [[ $line =~ $pattern ]]; then
      echo "${BASH_REMATCH[1]}"
      return 0
    fi
  done < <(ip -o link show)
  return 1
}

install_unit() {
  local self=/usr/local/sbin/podium-nat
  [[ -f $root$self ]] && return 0
  mkdir -p "$root/usr/local/sbin" "$root/etc/systemd/system"
  cp "$0" "$root$self"
  chmod 0755 "$root$self"
  cat >"$root/etc/systemd/system/podium-nat.service" <<UNIT
[Unit]
Description=Podium NAT instance: forwarding, masquerading, the fixed interface
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=$self
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
UNIT
  systemctl enable podium-nat.service
}

token=$(retry 10 2 curl -fsS --max-time 5 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" \
  http://169.254.169.254/latest/api/token)
instance_id=$(imds instance-id)
primary_mac=$(imds mac)
primary_eni=$(imds "network/interfaces/macs/$primary_mac/interface-id")
primary_ip=$(imds local-ipv4)
public_if=$(interface_with "$primary_mac") || fail "no interface with the primary MAC $primary_mac"
log "instance $instance_id, primary interface $public_if ($primary_eni)"
install_unit

# Forward, and let packets that arrive on the fixed interface leave by the primary one:
# strict reverse-path filtering would drop them (the VPC's other subnets route via the
# primary interface).
sysctl -q -w net.ipv4.ip_forward=1
sysctl -q -w net.ipv4.conf.all.rp_filter=0
sysctl -q -w net.ipv4.conf.default.rp_filter=0
sysctl -q -w "net.ipv4.conf.$public_if.rp_filter=0"
sysctl -q -w "net.ipv4.conf.$public_if.send_redirects=0"

# Everything forwarded leaves by the primary interface, from its address, which AWS maps
# to the Elastic IP. The flush makes a rerun at boot start from nothing.
iptables -t nat -F
iptables -t nat -A POSTROUTING -o "$public_if" -j MASQUERADE -m comment --comment "podium: private subnets' egress"
if [[ -n $PODIUM_API_FORWARD ]]; then
  # cluster.apiEndpoint natInstance: the API port on the Elastic IP goes to the control
  # plane, masqueraded too, so its replies come straight back here. The security group
  # of the primary interface admits only cluster.apiAllowedCidrs on this port.
  iptables -t nat -A PREROUTING -i "$public_if" -d "$primary_ip" -p tcp --dport "$PODIUM_API_PORT" \
    -j DNAT --to-destination "$PODIUM_API_FORWARD" -m comment --comment "podium: Kubernetes API"
fi

if ! command -v aws >/dev/null; then
  retry 30 2 snap wait system seed.loaded
  retry 10 5 snap install aws-cli --classic
fi
export AWS_DEFAULT_REGION=$PODIUM_REGION

# The primary interface forwards too (traffic to the private subnets leaves by it).
retry 10 3 aws ec2 modify-network-interface-attribute --network-interface-id "$primary_eni" --no-source-dest-check

attach() {
  if interface_with "$PODIUM_ENI_MAC" >/dev/null; then return 0; fi
  aws ec2 attach-network-interface --instance-id "$instance_id" --network-interface-id "$PODIUM_ENI_ID" \
    --device-index 1 >/dev/null
}
# 60 x 5 s: the instance being replaced releases the interface as it terminates.
retry 60 5 attach || fail "could not attach $PODIUM_ENI_ID"
retry 30 1 interface_with "$PODIUM_ENI_MAC" >/dev/null || fail "$PODIUM_ENI_ID never appeared"
private_if=$(interface_with "$PODIUM_ENI_MAC")
ip link set dev "$private_if" up
sysctl -q -w "net.ipv4.conf.$private_if.rp_filter=0"
log "forwarding from $private_if ($PODIUM_ENI_ID) out of $public_if"

associate() {
  aws ec2 associate-address --allocation-id "$PODIUM_EIP_ALLOCATION_ID" \
    --network-interface-id "$primary_eni" --allow-reassociation >/dev/null
}
if [[ -n $PODIUM_API_FORWARD ]]; then
  # Admins reach the API only at this address.
  retry 20 3 associate || fail "could not move the Elastic IP $PODIUM_EIP_ALLOCATION_ID here"
elif ! retry 3 3 associate; then
  # A NAT gateway that this `pulumi up` deletes at its end may still hold the address
  # (natMode single -> instance keeps it). Egress works meanwhile, from the address AWS
  # gave the instance at launch; the move is retried for an hour, logged on the side.
  log "the Elastic IP is still in use: retrying for an hour, see /var/log/podium-nat-address.log"
  (retry 360 10 associate && log "the Elastic IP is here now" || log "gave up on the Elastic IP") \
    >>"$root/var/log/podium-nat-address.log" 2>&1 &
fi
log "ready"
