#!/bin/bash
# hooks-tls.sh: the simulator over TLS (a test CA, a server certificate for IP 127.0.0.1, a client
# certificate): the TLS options of the URI reach every connection, including the direct one to the member.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"
t_init
command -v openssl >/dev/null || tap_skip_all "openssl is not installed"

CONF=$T_DIR/rs0.conf
K=$T_DIR/pki
mkdir -m 0700 "$K"
ec() { echo "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"; }
# shellcheck disable=SC2046
if ! {
	openssl req -x509 $(ec) -keyout "$K/ca.key" -out "$K/ca.pem" -days 2 -subj /CN=mbh-test-ca &&
		openssl req $(ec) -keyout "$K/server.key" -out "$K/server.csr" -subj /CN=127.0.0.1 &&
		printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$K/server.ext" &&
		openssl x509 -req -in "$K/server.csr" -CA "$K/ca.pem" -CAkey "$K/ca.key" -CAcreateserial \
			-days 2 -extfile "$K/server.ext" -out "$K/server.pem" &&
		openssl req $(ec) -keyout "$K/client.key" -out "$K/client.csr" -subj /CN=mbh-backup-client &&
		printf 'extendedKeyUsage=clientAuth\n' >"$K/client.ext" &&
		openssl x509 -req -in "$K/client.csr" -CA "$K/ca.pem" -CAkey "$K/ca.key" -CAcreateserial \
			-days 2 -extfile "$K/client.ext" -out "$K/client.crt" &&
		cat "$K/client.crt" "$K/client.key" >"$K/client.pem"
} >"$T_DIR/openssl.log" 2>&1; then
	cat "$T_DIR/openssl.log" | sed 's/^/# /'
	echo "Bail out! openssl could not make the test certificates"
	exit 1
fi

MEMBERS='{ port = 0; state = "PRIMARY"; }, { port = 0; }, { port = 0; priority = 0.0; }'

# round_trip NAME URI: dry run, pre, post and --exec all work over TLS and lock member 2.
round_trip() {
	local name=$1
	CFG_URI=$2 t_config "$CONF"
	t_run dry "$MBH_PRE" -c "$CONF" --dry-run
	t_rc_is 0 "$name: --dry-run works" dry
	t_run pre "$MBH_PRE" -c "$CONF" --job tls
	t_rc_is 0 "$name: pre works" pre
	tap_is "$(sim_lockcounts)" "0:0 1:0 2:1" "$name: member 2 is locked"
	t_run post "$MBH_POST" -c "$CONF"
	t_rc_is 0 "$name: post works" post
	t_assert_unlocked "$name: unlocked"
	t_run exec "$MBH_PRE" -c "$CONF" --exec -- true
	t_rc_is 0 "$name: --exec -- true works" exec
	t_assert_unlocked "$name: unlocked after --exec"
}

# fails NAME URI: no connection can be made: pre fails and locks nothing.
fails() {
	CFG_URI=$2 t_config "$CONF"
	t_run bad "$MBH_PRE" -c "$CONF" --job bad
	tap_isnt "$T_RC" 0 "$1: pre fails ($T_RC)"
	t_assert_unlocked "$1: nothing locked"
	t_assert_no_state "$1: no state left"
}

# 1: TLS turned on by the simulator's command line; no client certificate required.
t_topology "$T_DIR/topo.conf" "$MEMBERS"
if sim_start "$T_DIR/topo.conf" --tls-cert "$K/server.pem" --tls-key "$K/server.key" --tls-ca "$K/ca.pem"; then
	TLS="tls=true&tlsCAFile=$K/ca.pem&tlsCertificateKeyFile=$K/client.pem"
	round_trip "tls (--tls-* options)" "$SIM_URI&$TLS"
	round_trip "tls, no client certificate" "$SIM_URI&tls=true&tlsCAFile=$K/ca.pem"
	fails "tls server, plain client" "$SIM_URI"
	fails "tls, unknown CA" "$SIM_URI&tls=true&tlsCAFile=$K/client.crt"
	sim_stop
else
	tap_fail "the simulator starts with TLS"
fi

# 2: TLS from the topology file, client certificates required.
t_topology "$T_DIR/topo2.conf" "$MEMBERS" "tls = { enabled = true; cert = \"$K/server.pem\"; key = \"$K/server.key\"; ca = \"$K/ca.pem\"; require_client_cert = true; };"
if sim_start "$T_DIR/topo2.conf"; then
	round_trip "mutual tls" "$SIM_URI&tls=true&tlsCAFile=$K/ca.pem&tlsCertificateKeyFile=$K/client.pem"
	fails "mutual tls without a client certificate" "$SIM_URI&tls=true&tlsCAFile=$K/ca.pem"
	sim_stop
else
	tap_fail "the simulator starts with TLS from the topology"
fi

tap_done
