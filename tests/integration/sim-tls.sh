#!/bin/bash
# sim-tls.sh: mongo-rs-sim over TLS with a test CA, as the real libmongoc sees it (CA check, client certificates).
# SPDX-License-Identifier: AGPL-3.0-or-later
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/sim-harness.sh"

command -v openssl >/dev/null 2>&1 || tap_skip_all "openssl is not installed"
simt_init
tap_plan 16

P=$T_DIR/pki
mkdir -m 0700 "$P"

# mkcert NAME CN EXT CA: a key and a certificate signed by CA (CA.pem/CA.key) with extensions EXT.
mkcert() {
	openssl req -new -newkey rsa:2048 -nodes -keyout "$P/$1.key" -out "$P/$1.csr" -subj "/CN=$2" \
		>>"$P/openssl.log" 2>&1 &&
		printf '%b\n' "$3" >"$P/$1.ext" &&
		openssl x509 -req -in "$P/$1.csr" -CA "$P/$4.pem" -CAkey "$P/$4.key" -CAcreateserial \
			-days 2 -sha256 -extfile "$P/$1.ext" -out "$P/$1.pem" >>"$P/openssl.log" 2>&1
}

# mkca NAME: a self-signed CA.
mkca() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/$1.key" -out "$P/$1.pem" -days 2 -sha256 \
		-subj "/CN=mbh test $1" -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" >>"$P/openssl.log" 2>&1
}

rc=0
mkca ca && mkca otherca &&
	mkcert server 127.0.0.1 "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth" ca &&
	mkcert client backup-client "extendedKeyUsage=clientAuth" ca &&
	mkcert rogue rogue-client "extendedKeyUsage=clientAuth" otherca || rc=1
cat "$P/client.pem" "$P/client.key" >"$P/client-bundle.pem"
cat "$P/rogue.pem" "$P/rogue.key" >"$P/rogue-bundle.pem"
tap_ok "$rc" "openssl made a CA, a server certificate (SAN IP:127.0.0.1) and client certificates" ||
	tap_diag_file "$P/openssl.log"

TOPO=$T_DIR/tls.conf
cat >"$TOPO" <<EOF
set_name = "rst";
max_wire_version = 21;
auth = false;
noop_interval_ms = 1000;
tls = { enabled = true; cert = "$P/server.pem"; key = "$P/server.key"; ca = "$P/ca.pem";
        require_client_cert = true; };
members = (
  { port = 0; state = "PRIMARY"; },
  { port = 0; },
  { port = 0; }
);
EOF

sim_start "$TOPO"
tap_ok $? "the simulator starts with TLS and require_client_cert from the topology"

GOOD="tls=true&tlsCAFile=$P/ca.pem&tlsCertificateKeyFile=$P/client-bundle.pem&connectTimeoutMS=2000&socketTimeoutMS=5000"
simt_probe direct "$(simt_direct_uri 0 "$GOOD")" '{"ping": 1}'
t_rc_is 0 "ping over TLS with the CA file and a client certificate" direct

simt_probe rs "$SIM_URI&$GOOD" '{"replSetGetStatus": 1}'
t_rc_is 0 "replica-set discovery and replSetGetStatus over TLS" rs
tap_like "$T_OUT/rs.out" '"set" : "rst"' "the status names the set"

simt_probe noca "$(simt_direct_uri 1 "tls=true&tlsCertificateKeyFile=$P/client-bundle.pem&connectTimeoutMS=2000")" '{"ping": 1}'
t_rc_is 1 "without tlsCAFile the server certificate is not trusted: the client fails" noca
tap_like "$T_OUT/noca.err" 'certificate verify failed' "the failure is the certificate check"

simt_probe nocert "$(simt_direct_uri 1 "tls=true&tlsCAFile=$P/ca.pem&connectTimeoutMS=2000&socketTimeoutMS=2000")" '{"ping": 1}'
t_rc_is 1 "without a client certificate the server refuses the handshake" nocert

simt_probe rogue "$(simt_direct_uri 1 "tls=true&tlsCAFile=$P/ca.pem&tlsCertificateKeyFile=$P/rogue-bundle.pem&connectTimeoutMS=2000&socketTimeoutMS=2000")" '{"ping": 1}'
t_rc_is 1 "a client certificate from another CA is refused" rogue

simt_probe plain "$(simt_direct_uri 2 "connectTimeoutMS=1000&socketTimeoutMS=1000")" '{"ping": 1}'
t_rc_is 1 "a plaintext client cannot talk to a TLS member" plain

simt_probe after "$(simt_direct_uri 2 "$GOOD")" '{"ping": 1}'
t_rc_is 0 "after the failed handshakes a good TLS client still works" after

sim_stop
tap_is $? 0 "the TLS simulator exits 0 on SIGTERM"

# The command-line flags turn TLS on over a plaintext topology; no client certificate required.
TOPO2=$T_DIR/plain.conf
sed '/^tls = /,/require_client_cert/d' "$TOPO" >"$TOPO2"
sim_start "$TOPO2" --tls-cert "$P/server.pem" --tls-key "$P/server.key" --tls-ca "$P/ca.pem"
tap_ok $? "the simulator starts with --tls-cert/--tls-key/--tls-ca"
simt_probe flags "$(simt_direct_uri 0 "tls=true&tlsCAFile=$P/ca.pem&connectTimeoutMS=2000&socketTimeoutMS=5000")" '{"ping": 1}'
t_rc_is 0 "with the flags (no require_client_cert) a client without a certificate succeeds" flags
simt_probe flagsnoca "$(simt_direct_uri 0 "tls=true&connectTimeoutMS=2000")" '{"ping": 1}'
t_rc_is 1 "and without the CA file it still fails" flagsnoca
sim_stop
tap_is $? 0 "it exits 0 on SIGTERM"
tap_done
