#!/bin/sh
# One-shot: registers the deployment's devices at the mock hub (found through its data directory).
# CERTS_DIR and HUB_DATA default to the compose volumes; the compose test points them at temp dirs.
set -eu
CERTS_DIR=${CERTS_DIR:-/certs}
HUB_DATA=${HUB_DATA:-/data/hub}
hub() { gatehouse hub "$@" --data "$HUB_DATA"; }
exists() { hub device show "$1" >/dev/null 2>&1; }
if ! hub ca list | grep -q "^intermediate  verified"; then
  code=$(hub ca upload intermediate --cert "$CERTS_DIR/intermediate-ca.cert.pem")
  gatehouse certs create-verification --code "$code" --dir "$CERTS_DIR" --force
  hub ca verify intermediate --cert "$CERTS_DIR/verification-$code.cert.pem"
fi
exists parent-gateway || hub device add parent-gateway --cert "$CERTS_DIR/identity-parent-gateway.cert.pem" --edge
exists child-gateway || hub device add child-gateway --cert "$CERTS_DIR/identity-child-gateway.cert.pem" --edge --parent parent-gateway
exists sensor-1 || hub device add sensor-1 --ca --parent child-gateway
