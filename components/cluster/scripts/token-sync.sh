#!/bin/bash
# Podium: make the bootstrap token held in SSM exist in the cluster. Run by
# podium-token-sync.timer, so a rotated token (and nodes an ASG starts months
# later) work without touching the control plane. Prints only the token id.
set -euo pipefail
root="${PODIUM_ROOT:-}"
token_parameter=$PODIUM_TOKEN_PARAMETER
ttl=$PODIUM_TOKEN_TTL
export AWS_DEFAULT_REGION=$PODIUM_REGION
export PATH="$PATH:/snap/bin"
kubeconfig="$root/etc/kubernetes/admin.conf"
token=$(aws ssm get-parameter --name "$token_parameter" --with-decryption --query Parameter.Value --output text)
id=${token%%.*}

# Captured, not piped into grep -q: an early grep exit would fail the pipeline.
has_token() {
  local tokens
  tokens=$(kubeadm token list --kubeconfig "$kubeconfig") || return 2
  [[ $'\n'$tokens == *$'\n'"$id".* ]]
}

if has_token; then
  echo "bootstrap token $id present"
  exit 0
fi
# kubeadm prints the token it creates: keep it out of the journal.
if ! kubeadm token create "$token" --ttl "$ttl" --kubeconfig "$kubeconfig" >/dev/null; then
  # Another control plane may have created it a moment ago.
  has_token || exit 1
fi
echo "bootstrap token $id created"
