#!/bin/sh
# AquaLab's container entry point.
#
#   serve [ARGS…]   (the default) apply migrations, then become `aqualab serve ARGS…`:
#                   gunicorn with WORKERS processes, or one waitress process if WORKERS=0
#   OTHER [ARGS…]   become `aqualab OTHER ARGS…` (migrate, backup, restore, purge, …)
#
# `exec` replaces this shell, so the server is PID 1 and gets SIGTERM from `docker stop`
# directly (graceful: requests in flight finish). A failed migration stops the container
# with its exit status before anything serves. Where a one-shot `migrate` ran first (the
# compose file, a Kubernetes Job), this step finds nothing to do.
set -eu

if [ "$#" -eq 0 ]; then
    set -- serve
fi

if [ "$1" = "serve" ]; then
    shift
    aqualab migrate
    exec aqualab serve "$@"
fi

exec aqualab "$@"
