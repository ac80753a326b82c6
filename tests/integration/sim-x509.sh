#!/bin/bash
# sim-x509.sh: MONGODB-X509 end to end: a $external user named by the client certificate's subject,
# no username and no password file; config, --check-config, --dry-run, pre, post, --exec; a wrong or
# missing certificate is 77 at once, nothing locked.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init
command -v openssl >/dev/null || tap_skip_all "openssl is not installed"
tap_plan 16

CONF=$T_DIR/x509.conf
K=$T_DIR/pki
mkdir -m 0700 "$K"
ec() { echo "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"; }
# client NAME SUBJECT: a client certificate signed by the test CA, as NAME.pem (certificate + key).
client() {
	# shellcheck disable=SC2046
	openssl req $(ec) -keyout "$K/$1.key" -out "$K/$1.csr" -subj "$2" &&
		openssl x509 -req -in "$K/$1.csr" -CA "$K/ca.pem" -CAkey "$K/ca.key" -CAcreateserial \
			-days 2 -extfile "$K/client.ext" -out "$K/$1.crt" &&
		cat "$K/$1.crt" "$K/$1.key" >"$K/$1.pem"
}
# shellcheck disable=SC2046
if ! {
	openssl req -x509 $(ec) -keyout "$K/ca.key" -out "$K/ca.pem" -days 2 -subj /CN=mbh-test-ca &&
		openssl req $(ec) -keyout "$K/server.key" -out "$K/server.csr" -subj /CN=127.0.0.1 &&
		printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$K/server.ext" &&
		openssl x509 -req -in "$K/server.csr" -CA "$K/ca.pem" -CAkey "$K/ca.key" -CAcreateserial \
			-days 2 -extfile "$K/server.ext" -out "$K/server.pem" &&
		printf 'extendedKeyUsage=clientAuth\n' >"$K/client.ext" &&
		client backup "/O=mbh/OU=backup/CN=mbh-backup-client" &&
		client stranger "/O=mbh/OU=backup/CN=someone-else"
} >"$T_DIR/openssl.log" 2>&1; then
	tap_diag_file "$T_DIR/openssl.log"
	echo "Bail out! openssl could not make the test certificates"
	exit 1
fi

# The user is the subject in RFC 2253 order (most specific first), as the server prints it.
cat >"$T_DIR/topo.conf" <<TOPO
set_name = "rs0";
auth = true;
noop_interval_ms = 500;
tls = { enabled = true; cert = "$K/server.pem"; key = "$K/server.key"; ca = "$K/ca.pem"; };
members = ( { port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; } );
users = (
  { name = "CN=mbh-backup-client,OU=backup,O=mbh"; db = "\$external"; mechanisms = [ "MONGODB-X509" ];
    roles = [ "clusterMonitor", "hostManager", "clusterManager" ]; }
);
TOPO
sim_start "$T_DIR/topo.conf" || { echo "Bail out! the simulator did not start with TLS"; exit 1; }
tap_pass "the simulator starts with a \$external MONGODB-X509 user"

X509="tls=true&tlsCAFile=$K/ca.pem&authMechanism=MONGODB-X509"
CFG_USER=none CFG_PWFILE=none CFG_URI="$SIM_URI&$X509&tlsCertificateKeyFile=$K/backup.pem" t_config "$CONF"
t_run check "$MBH_PRE" -c "$CONF" --check-config
t_rc_is 0 "--check-config: no username, no password_file" check
t_run dry "$MBH_PRE" -c "$CONF" --dry-run
t_rc_is 0 "--dry-run authenticates with the certificate" dry
cat "$T_OUT/dry.out" "$T_OUT/dry.err" >"$T_DIR/dry.all"
tap_like "$T_DIR/dry.all" "would lock 127.0.0.1:" "--dry-run says what it would lock"
t_run pre "$MBH_PRE" -c "$CONF" --job x509
t_rc_is 0 "pre works" pre
tap_is "$(sim_lockcounts)" "0:0 1:0 2:1" "pre locked the passive member 2"
t_run post "$MBH_POST" -c "$CONF"
t_rc_is 0 "post works" post
t_assert_unlocked "post unlocked it"
t_run exec "$MBH_PRE" -c "$CONF" --exec -- sh -c 'exit 0'
t_rc_is 0 "--exec works" exec
t_assert_unlocked "unlocked after --exec"

# fails NAME URI-TAIL: 77 within seconds, a message about the certificate, nothing locked, no state.
fails() {
	CFG_USER=none CFG_PWFILE=none CFG_URI="$SIM_URI&$X509$2" t_config "$CONF"
	local t0=$SECONDS
	t_run bad "$MBH_PRE" -c "$CONF" --job bad
	t_rc_is 77 "$1: pre exits 77" bad
	tap_ok $(((SECONDS - t0) < 15 ? 0 : 1)) "$1: at once ($((SECONDS - t0)) s), not a hang"
}
fails "a certificate whose subject is no user" "&tlsCertificateKeyFile=$K/stranger.pem"
tap_like "$T_OUT/bad.err" "X.509 authentication failed.*tlsCertificateKeyFile" "it says X.509 authentication failed and names the certificate"
fails "no client certificate" ""
t_assert_unlocked "nothing was locked"
tap_done
