#!/bin/sh
# Podium database backup on a cluster without S3: a mongodump archive onto the
# db-backups claim, keeping RETENTION_DAYS days of archives.
set -eu
archive="/backups/$(date -u +%Y%m%dT%H%M%SZ).archive.gz"
mongodump --config=/etc/podium/backup-db/mongodump.yaml --archive="$archive" --gzip
find /backups -name '*.archive.gz' -type f -mtime +"$RETENTION_DAYS" -delete
echo "podium-backup: wrote $archive"
