#!/bin/sh
# One-shot: the deployment's PKI in /certs. Idempotent: a certificate that exists is kept.
set -eu
gh() { gatehouse certs "$@" --dir /certs; }
keep() { [ -f "/certs/$1.cert.pem" ]; }
keep root-ca || gh create-root --intermediate --days 365
keep edge-ca-parent || gh create-edge-ca --name parent --hostname parent --days 90
keep edge-ca-child || gh create-edge-ca --name child --hostname child --days 90
keep identity-parent-gateway || gh create-identity --device-id parent-gateway --days 365
keep identity-child-gateway || gh create-identity --device-id child-gateway --days 365
keep device-sensor-1 || gh create-device --device-id sensor-1 --days 365
# Containers run as the non-root user "node"; let it read what this one-shot wrote.
chown -R 1000:1000 /certs
