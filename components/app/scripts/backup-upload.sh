#!/bin/sh
# Podium database backup, upload step (runs in the API image: Alpine, with curl).
# The init container left a mongodump archive in /backup. The backup's role is assumed
# with its service account's token (STS AssumeRoleWithWebIdentity, which needs no
# signature), and curl signs the PUT with SigV4 using those short-lived credentials;
# the role may only write under BACKUP_PREFIX.
set -eu
archive=/backup/dump.archive.gz
if [ ! -s "$archive" ]; then
  echo "podium-backup: no dump at $archive" >&2
  exit 1
fi
# credential NAME: the value of <NAME> in STS's XML answer on stdin.
credential() { sed -n "s:.*<$1>\([^<]*\)</$1>.*:\1:p"; }
# --fail-with-body: a refusal says why in the log; throttling and 5xx are retried.
answer=$(curl --fail-with-body --silent --show-error --retry 5 \
  --data "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleSessionName=podium-backup" \
  --data-urlencode "RoleArn=${AWS_ROLE_ARN}" \
  --data-urlencode "WebIdentityToken@${AWS_WEB_IDENTITY_TOKEN_FILE}" \
  "https://sts.${AWS_REGION}.amazonaws.com/")
key_id=$(printf '%s' "$answer" | credential AccessKeyId)
secret=$(printf '%s' "$answer" | credential SecretAccessKey)
session=$(printf '%s' "$answer" | credential SessionToken)
if [ -z "$key_id" ] || [ -z "$secret" ] || [ -z "$session" ]; then
  echo "podium-backup: STS gave no credentials for ${AWS_ROLE_ARN}" >&2
  exit 1
fi
# The credentials go to curl in a file (curl --config), never on a command line.
curlrc=/tmp/curlrc
(
  umask 077
  printf 'user = "%s:%s"\nheader = "x-amz-security-token: %s"\n' "$key_id" "$secret" "$session" >"$curlrc"
)
key="${BACKUP_PREFIX}$(date -u +%Y%m%dT%H%M%SZ).archive.gz"
# S3 wants the payload hash header; older curls do not add it for SigV4 themselves.
curl --fail --silent --show-error --retry 5 --retry-all-errors \
  --config "$curlrc" \
  --aws-sigv4 "aws:amz:${AWS_REGION}:s3" \
  --header "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
  --upload-file "$archive" \
  "https://${BACKUP_BUCKET}.s3.${AWS_REGION}.amazonaws.com/${key}"
rm -f "$curlrc"
echo "podium-backup: uploaded s3://${BACKUP_BUCKET}/${key}"
