#!/usr/bin/env bash
# =============================================================================
# test/make-ca.sh DIR -- make a throwaway test CA and the certificates the
# tests use, with openssl:
#   ca.pem / ca.key               the test CA (10 years)
#   server.pem / server.key       CN=localhost, SAN DNS:localhost, IP:127.0.0.1,
#                                 EKU serverAuth, 2 years, signed by the CA
#   wronghost.pem / wronghost.key CN/SAN wrong.example, signed by the same CA
#                                 (for "host name does not match" tests)
#   selfsigned.pem / selfsigned.key  CN/SAN localhost, 127.0.0.1, but
#                                 self-signed, not from the CA (for
#                                 "untrusted certificate" tests)
# Keys: RSA 2048, unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY"), which both
# OpenSSL and GnuTLS (libmicrohttpd) read.  Files are readable by user
# postgres (when run as root: owned by postgres, keys 0640, certs 0644).
# Idempotent: when all eight files exist it does nothing; otherwise it makes
# all of them anew (in a temporary directory, then moved into place).
# =============================================================================
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir=$1
files=(ca.pem ca.key server.pem server.key wronghost.pem wronghost.key selfsigned.pem selfsigned.key)

all_present=1
for f in "${files[@]}"; do
    [ -s "$dir/$f" ] || all_present=0
done
if [ "$all_present" = 1 ]; then
    echo "make-ca: certificates already in $dir"
    exit 0
fi

mkdir -p "$dir"
chmod 0755 "$dir"
tmp=$(mktemp -d "$dir/.make-ca.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

newkey() {   # newkey FILE: RSA 2048 private key, PKCS#8 PEM
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
}
serial() {   # a random positive 128-bit serial number
    echo "0x$(openssl rand -hex 16)"
}

# --- the CA -------------------------------------------------------------------
cat > "$tmp/ca.ext" <<'EXT'
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EXT
newkey "$tmp/ca.key"
openssl req -new -key "$tmp/ca.key" -subj "/O=momo test/CN=momo test CA" -out "$tmp/ca.csr"
openssl x509 -req -in "$tmp/ca.csr" -signkey "$tmp/ca.key" -days 3650 -sha256 \
    -set_serial "$(serial)" -extfile "$tmp/ca.ext" -out "$tmp/ca.pem" 2>/dev/null

# --- leaf certificates ------------------------------------------------------------
# leaf NAME CN SAN ISSUER: ISSUER = ca (signed by the test CA) or self
leaf() {
    local name=$1 cn=$2 san=$3 issuer=$4
    cat > "$tmp/$name.ext" <<EXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
EXT
    newkey "$tmp/$name.key"
    openssl req -new -key "$tmp/$name.key" -subj "/O=momo test/CN=$cn" -out "$tmp/$name.csr"
    if [ "$issuer" = ca ]; then
        echo "authorityKeyIdentifier = keyid" >> "$tmp/$name.ext"
        openssl x509 -req -in "$tmp/$name.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
            -days 730 -sha256 -set_serial "$(serial)" -extfile "$tmp/$name.ext" \
            -out "$tmp/$name.pem" 2>/dev/null
    else
        openssl x509 -req -in "$tmp/$name.csr" -signkey "$tmp/$name.key" \
            -days 730 -sha256 -set_serial "$(serial)" -extfile "$tmp/$name.ext" \
            -out "$tmp/$name.pem" 2>/dev/null
    fi
}
leaf server     localhost     "DNS:localhost, IP:127.0.0.1" ca
leaf wronghost  wrong.example "DNS:wrong.example"           ca
leaf selfsigned localhost     "DNS:localhost, IP:127.0.0.1" self

# sanity checks: fail here rather than in a TLS handshake later
openssl verify -CAfile "$tmp/ca.pem" "$tmp/server.pem" "$tmp/wronghost.pem" >/dev/null
if openssl verify -CAfile "$tmp/ca.pem" "$tmp/selfsigned.pem" >/dev/null 2>&1; then
    echo "make-ca: selfsigned.pem unexpectedly verifies against the CA" >&2
    exit 1
fi

# --- into place ---------------------------------------------------------------------
chmod 0644 "$tmp"/*.pem
chmod 0640 "$tmp"/*.key
if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1; then
    chown postgres:postgres "$tmp"/*.pem "$tmp"/*.key
fi
for f in "${files[@]}"; do
    mv -f "$tmp/$f" "$dir/$f"
done
echo "make-ca: made test CA and certificates in $dir"
