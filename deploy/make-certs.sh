#!/bin/sh
# One-shot: the deployment's PKI. Idempotent: a certificate that exists is kept.
# CERTS_DIR defaults to the compose volume; the compose test points it at a temp dir.
set -eu
CERTS_DIR=${CERTS_DIR:-/certs}
gh() { gatehouse certs "$@" --dir "$CERTS_DIR"; }
keep() { [ -f "$CERTS_DIR/$1.cert.pem" ]; }
keep root-ca || gh create-root --intermediate --days 365
keep edge-ca-parent-ca || gh create-edge-ca --name parent-ca --hostname parent --days 90
keep edge-ca-child-ca || gh create-edge-ca --name child-ca --hostname child --days 90
keep identity-parent-gateway || gh create-identity --device-id parent-gateway --days 365
keep identity-child-gateway || gh create-identity --device-id child-gateway --days 365
keep device-sensor-1 || gh create-device --device-id sensor-1 --days 365
# Containers run as the image's non-root user "node" (uid 1000); let it read what this job wrote.
if [ "$(id -u)" = 0 ] && [ "$CERTS_DIR" = /certs ]; then chown -R 1000:1000 "$CERTS_DIR"; fi
