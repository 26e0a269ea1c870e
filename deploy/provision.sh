#!/bin/sh
# One-shot: registers the deployment's devices at the mock hub (found through its data directory).
set -eu
hub() { gatehouse hub "$@" --data /data/hub; }
exists() { hub device show "$1" >/dev/null 2>&1; }
if ! hub ca list | grep -q "^intermediate "; then
  code=$(hub ca upload intermediate --cert /certs/intermediate-ca.cert.pem --code-only)
  gatehouse certs create-verification --code "$code" --dir /certs --force
  hub ca verify intermediate --cert "/certs/verification-$code.cert.pem"
fi
exists parent-gateway || hub device add parent-gateway --cert /certs/identity-parent-gateway.cert.pem --edge
exists child-gateway || hub device add child-gateway --cert /certs/identity-child-gateway.cert.pem --edge --parent parent-gateway
exists sensor-1 || hub device add sensor-1 --ca --parent child-gateway
