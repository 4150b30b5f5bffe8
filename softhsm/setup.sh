#!/usr/bin/env bash
# The SoftHSM2 playground, set up idempotently (run it as often as you like):
#   1. a token directory inside the project: softhsm/tokens/ (git-ignored, 0700)
#   2. softhsm/softhsm2.conf pointing at it
#   3. a token labelled "keyhold" with a random development user PIN kept in
#      softhsm/dev-pin (0600) and SO PIN in softhsm/dev-so-pin (0600)
#   4. the master key "keyhold-master": AES-256, sensitive, never extractable
# Reset: rm -rf softhsm/tokens softhsm/dev-pin softhsm/dev-so-pin (and ./data-hsm).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
label="${KEYHOLD_PKCS11_TOKEN_LABEL:-keyhold}"

if ! command -v softhsm2-util >/dev/null 2>&1; then
  echo "softhsm/setup.sh: SoftHSM2 is not installed; run: apt-get install -y softhsm2" >&2
  exit 1
fi

umask 077
mkdir -p "$here/tokens"
sed "s|@TOKEN_DIR@|$here/tokens|" "$here/softhsm2.conf.template" > "$here/softhsm2.conf"
export SOFTHSM2_CONF="$here/softhsm2.conf"

if softhsm2-util --show-slots | grep -Eq "^ +Label: +${label} *$"; then
  if [ ! -f "$here/dev-pin" ]; then
    echo "softhsm/setup.sh: token '$label' exists but softhsm/dev-pin is gone; reset with: rm -rf softhsm/tokens" >&2
    exit 1
  fi
  echo "token '$label' exists"
else
  node -e "process.stdout.write(require('crypto').randomBytes(12).toString('base64url'))" > "$here/dev-pin"
  node -e "process.stdout.write(require('crypto').randomBytes(12).toString('base64url'))" > "$here/dev-so-pin"
  softhsm2-util --init-token --free --label "$label" --pin "$(cat "$here/dev-pin")" --so-pin "$(cat "$here/dev-so-pin")" >/dev/null
  echo "token '$label' initialised (PINs in softhsm/dev-pin and softhsm/dev-so-pin)"
fi

cd "$here/.."
KEYHOLD_PKCS11_TOKEN_LABEL="$label" KEYHOLD_PKCS11_PIN_FILE="$here/dev-pin" node --import tsx softhsm/ensure-master-key.ts
