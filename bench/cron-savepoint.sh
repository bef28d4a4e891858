#!/usr/bin/env bash
# The seed article's cron job: find the job's id with `flink list | grep`, then
# take a savepoint into a dated folder with `flink savepoint`. The baseline of
# flink-savepointer in bench/ (written from the article's description).
#
# Env: JOB_NAME, SAVEPOINT_FOLDER, FLINK (the CLI; the article's /bin/flink),
# FLINK_CONF_DIR (a conf dir whose rest.address/rest.port reach the cluster).
FLINK=${FLINK:-/bin/flink}

# Finds the id of the application
JOB_ID=$("$FLINK" list | grep "$JOB_NAME" | awk -F' ' '{print $4}')
if [ -z "${JOB_ID}" ]; then
  echo "Error : empty job_id"
  exit 1
fi
# Takes a savepoint of the job, and include the date in the path
"$FLINK" savepoint "$JOB_ID" "$SAVEPOINT_FOLDER/$(date '+%Y-%m-%d-%H-%M')"
