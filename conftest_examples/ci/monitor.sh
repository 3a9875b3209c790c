#!/bin/sh
# The deploy gate as a monitor: cron runs it every 5 minutes and node_exporter's textfile
# collector serves its results to Prometheus, with the same checks that gate the deploys.
#
#   crontab:         */5 * * * * deploy /opt/app/monitor.sh
#   node_exporter:   --collector.textfile.directory=/var/lib/node_exporter/textfile
#   alert (PromQL):  deploygate_check_passed{severity="fail"} == 0
#                    or time() - deploygate_last_run_timestamp_seconds > 900
#
# The .prom file is written to a temporary file and renamed, so node_exporter never reads half
# of it. The gate's exit code (1 when a check fails) is the cron job's, for cron's own mail.
set -u
cd "$(dirname "$0")"
TEXTFILE_DIR="${TEXTFILE_DIR:-/var/lib/node_exporter/textfile}"
# (--deploygate-report=PATH with "=": pytest, before it knows the option, would take a separate
# PATH that exists for a folder to look for its rootdir in)
exec pytest --deploygate -q -p no:cacheprovider --deploygate-report="$TEXTFILE_DIR/deploygate.prom"
