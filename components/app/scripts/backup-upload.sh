#!/bin/sh
# Podium database backup, upload step (runs in the API image: Alpine, with curl).
# The init container left a mongodump archive in /backup; curl signs the PUT with
# SigV4 using the backup user's key, which may only write under BACKUP_PREFIX.
set -eu
archive=/backup/dump.archive.gz
if [ ! -s "$archive" ]; then
  echo "podium-backup: no dump at $archive" >&2
  exit 1
fi
key="${BACKUP_PREFIX}$(date -u +%Y%m%dT%H%M%SZ).archive.gz"
# The credentials come from a file (curl --config), never from the command line. S3
# wants the payload hash header; older curls do not add it for SigV4 themselves.
curl --fail --silent --show-error --retry 5 --retry-all-errors \
  --config /etc/podium/backup-aws/curlrc \
  --aws-sigv4 "aws:amz:${AWS_REGION}:s3" \
  --header "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
  --upload-file "$archive" \
  "https://${BACKUP_BUCKET}.s3.${AWS_REGION}.amazonaws.com/${key}"
echo "podium-backup: uploaded s3://${BACKUP_BUCKET}/${key}"
