#!/usr/bin/env bash
# Entrypoint of the worker images.
#   IMAGE [flags]        consume the model's BullMQ queue (REDIS_URL)
#   IMAGE serve [flags]  SageMaker container server; SageMaker runs `docker run IMAGE serve`
# --model defaults to SWITCHYARD_MODEL, else /opt/ml/model (SageMaker's mount point).
set -euo pipefail

command=()
if [[ $# -gt 0 && $1 == serve ]]; then
  command=(serve)
  shift
fi

has_model=false
for arg in "$@"; do
  case "$arg" in
    --model | --model=*) has_model=true ;;
  esac
done

model=()
if [[ $has_model == false ]]; then
  model=(--model "${SWITCHYARD_MODEL:-/opt/ml/model}")
fi

exec node /app/dist/cli.js "${command[@]}" "${model[@]}" "$@"
