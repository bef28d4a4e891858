#!/usr/bin/env bash
# The configuration step of the official Flink image's entrypoint, as the
# baseline of `flink-bootstrap render` in bench/. Written from its documented
# behaviour, not copied: set a few keys from the environment, append
# FLINK_PROPERTIES to the config file, then (in the image) exec Flink; here
# it stops once the config is written.
#
#   official-entrypoint.sh sed      images up to 1.18: flat flink-conf.yaml,
#                                   each key replaced with sed, or appended
#   official-entrypoint.sh parser   images 1.19+: config.yaml rewritten by
#                                   bin/config-parser-utils.sh (starts a JVM)
#
# The official image reads no instance metadata; on GCE the values come from
# the container's environment. To do the same work as flink-bootstrap, when
# GCE_METADATA_HOST is set this fetches the JobManager address and the
# `flink-config` attribute with curl first, as a startup script would.
#
# Env: FLINK_HOME, FLINK_CONF_DIR, JOB_MANAGER_RPC_ADDRESS,
# TASK_MANAGER_NUMBER_OF_TASK_SLOTS, FLINK_PROPERTIES, GCE_METADATA_HOST.
set -e
mode=${1:?usage: official-entrypoint.sh sed|parser}
conf_dir=${FLINK_CONF_DIR:-$FLINK_HOME/conf}

metadata() {
  curl -sf -H 'Metadata-Flavor: Google' "http://$GCE_METADATA_HOST/computeMetadata/v1/$1"
}
if [ -n "$GCE_METADATA_HOST" ]; then
  JOB_MANAGER_RPC_ADDRESS=${JOB_MANAGER_RPC_ADDRESS:-$(metadata instance/attributes/flink-jobmanager-address)}
  FLINK_PROPERTIES="${FLINK_PROPERTIES}
$(metadata instance/attributes/flink-config || true)"
fi

set_with_sed() {
  local file=$conf_dir/flink-conf.yaml key=$1 value=$2
  if grep -q "^${key//./\\.}:" "$file"; then
    sed -i "s|^${key//./\\.}:.*|${key}: ${value}|" "$file"
  else
    echo "${key}: ${value}" >> "$file"
  fi
}

options=(
  jobmanager.rpc.address "${JOB_MANAGER_RPC_ADDRESS:-localhost}"
  blob.server.port 6124
  query.server.port 6125
)
if [ -n "$TASK_MANAGER_NUMBER_OF_TASK_SLOTS" ]; then
  options+=(taskmanager.numberOfTaskSlots "$TASK_MANAGER_NUMBER_OF_TASK_SLOTS")
fi

case $mode in
  sed)
    file=$conf_dir/flink-conf.yaml
    set -- "${options[@]}"
    while [ $# -gt 0 ]; do
      set_with_sed "$1" "$2"
      shift 2
    done
    ;;
  parser)
    file=$conf_dir/config.yaml
    args=()
    set -- "${options[@]}"
    while [ $# -gt 0 ]; do
      args+=("-D$1=$2")
      shift 2
    done
    "$FLINK_HOME/bin/config-parser-utils.sh" "$conf_dir" "$FLINK_HOME/bin" "$FLINK_HOME/lib" "${args[@]}" >/dev/null
    ;;
  *)
    echo "unknown mode $mode" >&2
    exit 2
    ;;
esac

if [ -n "$FLINK_PROPERTIES" ]; then
  echo "$FLINK_PROPERTIES" >> "$file"
fi
