/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replica/curve.c against the real libzmq: key files (modes, never
 * overwritten, loaded back), endpoint forms and authorized_keys parsing,
 * then CURVE over tcp://127.0.0.1 with the ZAP handler: a listed client
 * talks and the server sees its key as User-Id; an unlisted client and a
 * client with the wrong server key get nothing through.  Waits are bounded
 * polls on conditions; the only fixed one is "nothing arrives within 1 s".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "replica/curve.h"
#include "store/base/errors.h"
#include "store/base/log.h"
#include "tap.h"

static char dir[] = "/tmp/mfs-test-curve.XXXXXX";

static const char *at(const char *name)
{
	static char paths[8][512];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	return p;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) || chmod(path, mode))
		tap_bail("cannot write %s", path);
}

/* The file's contents (static buffer, up to 4 KiB), "" if unreadable. */
static const char *slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = 0;
	return buf;
}

static unsigned mode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : st.st_mode & 07777;
}

static void test_keygen(void)
{
	char pub[MFS_CURVE_Z85_LEN + 1], want[64], before[128];
	mode_t old = umask(077);
	int rc;

	/* umask 077 must not take 0644 away from the public key. */
	is_int(mfs_curve_keygen(at("a"), pub), 0, "keygen a");
	umask(old);
	is_int(mode_of(at("a")), 0600, "a is 0600");
	is_int(mode_of(at("a.pub")), 0644, "a.pub is 0644 (even under umask 077)");
	snprintf(want, sizeof(want), "%s\n", pub);
	ok(!strcmp(slurp(at("a.pub")), want), "a.pub holds the public key keygen returned");
	is_int(strlen(slurp(at("a"))), MFS_CURVE_Z85_LEN + 1, "a holds one 40-character line");

	snprintf(before, sizeof(before), "%s", slurp(at("a")));
	rc = mfs_curve_keygen(at("a"), NULL);
	is_int(rc, -EEXIST, "keygen refuses an existing key");
	ok(!strcmp(slurp(at("a")), before), "the existing secret key is unchanged");
	ok(!strcmp(slurp(at("a.pub")), want), "the existing public key is unchanged");

	write_file(at("b.pub"), "left over\n", 0644);
	is_int(mfs_curve_keygen(at("b"), NULL), -EEXIST, "keygen refuses if only FILE.pub exists");
	ok(access(at("b"), F_OK) && errno == ENOENT, "and writes no secret key");
	is_int(mfs_curve_keygen(at("no/such/dir/k"), NULL), -ENOENT, "keygen in a missing dir");
}

static void test_load(void)
{
	struct mfs_curve_keys k, a;
	char err[512], want[64], text[256];
	int rc;

	rc = mfs_curve_load_secret(at("a"), &a, err, sizeof(err));
	is_int(rc, 0, "load a");
	snprintf(want, sizeof(want), "%s\n", a.public_z85);
	ok(!strcmp(slurp(at("a.pub")), want), "the derived public key is a.pub's");
	snprintf(want, sizeof(want), "%s\n", a.secret_z85);
	ok(!strcmp(slurp(at("a")), want), "the secret key is a's");

	chmod(at("a"), 0640);
	rc = mfs_curve_load_secret(at("a"), &k, err, sizeof(err));
	is_int(rc, -EPERM, "a group-readable secret key is refused");
	ok(strstr(err, at("a")) && strstr(err, "chmod 600"), "saying what to do: %s", err);
	chmod(at("a"), 0600);

	snprintf(text, sizeof(text), "%s\r\n", a.secret_z85);
	write_file(at("crlf"), text, 0600);
	rc = mfs_curve_load_secret(at("crlf"), &k, err, sizeof(err));
	ok(!rc && !strcmp(k.public_z85, a.public_z85), "a key line ending in CR LF loads");
	write_file(at("junk"), "not a key\n", 0600);
	rc = mfs_curve_load_secret(at("junk"), &k, err, sizeof(err));
	is_int(rc, MFS_EFORMAT, "a file without a key: MFS_EFORMAT");
	ok(strstr(err, at("junk")) != NULL, "naming the file: %s", err);
	snprintf(text, sizeof(text), "%s\n%s\n", a.secret_z85, a.public_z85);
	write_file(at("twolines"), text, 0600);
	is_int(mfs_curve_load_secret(at("twolines"), &k, err, sizeof(err)), MFS_EFORMAT,
	       "two key lines are not a key file");
	snprintf(text, sizeof(text), "%s%s\n", a.secret_z85, a.secret_z85);
	write_file(at("twokeys"), text, 0600);
	is_int(mfs_curve_load_secret(at("twokeys"), &k, err, sizeof(err)), MFS_EFORMAT,
	       "80 characters are not a key");
	is_int(mfs_curve_load_secret(at("missing"), &k, err, sizeof(err)), -ENOENT,
	       "a missing file: -ENOENT");
}

static void test_endpoints(void)
{
	static const struct {
		const char *in, *want;     /* want NULL: refused */
	} cases[] = {
		{ "Node-1.Example.COM:7000", "tcp://node-1.example.com:7000" },
		{ "tcp://10.0.0.1:07000", "tcp://10.0.0.1:7000" },
		{ "[::1]:9", "tcp://[::1]:9" },
		{ "tcp://[FE80::1]:65535", "tcp://[fe80::1]:65535" },
		{ "*:5555", "tcp://*:5555" },
		{ "host", NULL },
		{ "host:", NULL },
		{ ":80", NULL },
		{ "host:0", NULL },
		{ "host:65536", NULL },
		{ "host:12a", NULL },
		{ "host:+1", NULL },
		{ "host: 1", NULL },
		{ "::1:9", NULL },
		{ "ipc://x:1", NULL },
		{ "[::1:9", NULL },
		{ "ho st:1", NULL },
	};
	char out[300];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = mfs_endpoint_normalise(cases[i].in, out, sizeof(out));

		if (cases[i].want)
			ok(!rc && !strcmp(out, cases[i].want), "endpoint '%s' -> %s", cases[i].in,
			   rc ? mfs_strerror(rc) : out);
		else
			is_int(rc, -EINVAL, "endpoint '%s' refused", cases[i].in);
	}
	is_int(mfs_endpoint_normalise("a-long-name:7000", out, 12), -ENAMETOOLONG,
	       "endpoint longer than the buffer");
}

/* Loads text as an authorized_keys file; rc, and err for the caller. */
static int load_text(const char *text, struct mfs_authkeys **k, char *err, size_t errlen)
{
	write_file(at("ak"), text, 0644);
	return mfs_authkeys_load(at("ak"), k, err, errlen);
}

static void test_authkeys(void)
{
	struct mfs_curve_keys k1, k2, k3;
	const char *key1 = k1.public_z85, *key2 = k2.public_z85, *key3 = k3.public_z85;
	struct mfs_authkeys *k;
	char text[2048], err[512], where[600];
	int rc;

	if (mfs_curve_load_secret(at("a"), &k1, err, sizeof(err)) ||
	    mfs_curve_keygen(at("c"), NULL) || mfs_curve_keygen(at("d"), NULL) ||
	    mfs_curve_load_secret(at("c"), &k2, err, sizeof(err)) ||
	    mfs_curve_load_secret(at("d"), &k3, err, sizeof(err)))
		tap_bail("keys for authorized_keys: %s", err);
	snprintf(text, sizeof(text),
		 "# modelfs peers\n"
		 "\n"
		 "   \t\n"
		 "%s node1.example:7000\n"
		 "\t%s\ttcp://10.0.0.2:7000   # the second node\r\n"
		 "#%s node3:1 (commented out)\n"
		 "%s # a client that does not listen\n",
		 key1, key2, key3, key3);
	rc = load_text(text, &k, err, sizeof(err));
	if (!ok(rc == 0, "a good authorized_keys file loads"))
		printf("#   %s\n", err);
	if (rc)
		return;
	is_int(k->n, 3, "three keys");
	ok(!strcmp(k->keys[0].public_z85, key1) && k->keys[0].line == 4 &&
	   !strcmp(k->keys[0].endpoint, "tcp://node1.example:7000"),
	   "line 4: key and normalised endpoint");
	ok(!strcmp(k->keys[1].endpoint, "tcp://10.0.0.2:7000"), "tabs, a comment, CRLF");
	ok(!strcmp(k->keys[2].public_z85, key3) && !k->keys[2].endpoint, "a key without endpoint");
	ok(mfs_authkeys_for_endpoint(k, "tcp://NODE1.example:7000") == k->keys[0].public_z85,
	   "lookup by tcp:// endpoint, any case");
	ok(mfs_authkeys_for_endpoint(k, "10.0.0.2:7000") == k->keys[1].public_z85,
	   "lookup by HOST:PORT");
	ok(!mfs_authkeys_for_endpoint(k, "node3:1"), "a commented-out line is not listed");
	ok(!mfs_authkeys_for_endpoint(k, "nonsense"), "a malformed endpoint finds nothing");
	mfs_authkeys_free(k);

	snprintf(where, sizeof(where), "%s:2:", at("ak"));
	snprintf(text, sizeof(text), "# x\n%.39s host:1\n", key1);
	is_int(load_text(text, &k, err, sizeof(err)), MFS_EFORMAT, "a 39-character key");
	ok(!strncmp(err, where, strlen(where)) && strstr(err, "39 characters"), "%s", err);
	ok(!k, "no list on error");
	snprintf(text, sizeof(text), "# x\n%s1 host:1\n", key1);
	is_int(load_text(text, &k, err, sizeof(err)), MFS_EFORMAT, "a 41-character key");
	snprintf(text, sizeof(text), "# x\n~%.39s host:1\n", key1 + 1);
	is_int(load_text(text, &k, err, sizeof(err)), MFS_EFORMAT, "a key with a non-Z85 char");
	ok(!strncmp(err, where, strlen(where)) && strstr(err, "Z85"), "%s", err);
	snprintf(text, sizeof(text), "# x\n%s host\n", key1);
	is_int(load_text(text, &k, err, sizeof(err)), MFS_EFORMAT, "an endpoint without port");
	ok(!strncmp(err, where, strlen(where)) && strstr(err, "endpoint"), "%s", err);
	snprintf(text, sizeof(text), "# x\n%s host:1 extra\n", key1);
	is_int(load_text(text, &k, err, sizeof(err)), MFS_EFORMAT, "a third field");
	snprintf(text, sizeof(text), "%s host:1\n%s host:2\n", key1, key1);
	is_int(load_text(text, &k, err, sizeof(err)), MFS_EFORMAT, "a key listed twice");
	ok(strstr(err, ":2: key already listed on line 1") != NULL, "%s", err);
	snprintf(text, sizeof(text), "%s host:1\n%s tcp://HOST:1\n", key1, key2);
	is_int(load_text(text, &k, err, sizeof(err)), MFS_EFORMAT, "an endpoint listed twice");
	is_int(mfs_authkeys_load(at("missing"), &k, err, sizeof(err)), -ENOENT, "a missing file");
}

/* ---- CURVE over TCP ------------------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int readable(void *sock, long timeout_ms)
{
	zmq_pollitem_t it = { .socket = sock, .events = ZMQ_POLLIN };

	return zmq_poll(&it, 1, timeout_ms) == 1;
}

/* Waits up to timeout_ms for count monitor events of type event with value. */
static int wait_events(void *mon, int event, int value, int count, long timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;

	while (count > 0 && now_ms() < deadline) {
		zmq_msg_t m;
		uint16_t ev;
		uint32_t val;

		if (!readable(mon, deadline - now_ms()))
			break;
		zmq_msg_init(&m);
		zmq_msg_recv(&m, mon, 0);
		if (zmq_msg_size(&m) == 6) {
			memcpy(&ev, zmq_msg_data(&m), 2);
			memcpy(&val, (char *)zmq_msg_data(&m) + 2, 4);
			count -= ev == event && val == (uint32_t)value;
		}
		while (zmq_msg_more(&m)) {
			zmq_msg_close(&m);
			zmq_msg_init(&m);
			zmq_msg_recv(&m, mon, 0);
		}
		zmq_msg_close(&m);
	}
	return count <= 0;
}

static void *dealer(void *ctx, const struct mfs_curve_keys *own, const char *server_z85,
		    const char *endpoint)
{
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int zero = 0;

	if (!s || zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)) ||
	    mfs_curve_client_setup(s, own, server_z85) || zmq_connect(s, endpoint))
		tap_bail("dealer for %s: %s", endpoint, zmq_strerror(zmq_errno()));
	return s;
}

static int count_lines(const char *path, const char *needle)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}

static void test_zap(void)
{
	struct mfs_curve_keys server, good, bad;
	struct mfs_authkeys *ak, *ak2;
	struct mfs_zap *zap, *zap2;
	char endpoint[256], text[512], err[512];
	size_t len = sizeof(endpoint);
	void *ctx = zmq_ctx_new(), *router, *mon, *c;
	const char *server_z85;
	zmq_msg_t m;
	int zero = 0, rc;

	if (mfs_curve_keygen(at("server"), NULL) || mfs_curve_keygen(at("good"), NULL) ||
	    mfs_curve_keygen(at("bad"), NULL) ||
	    mfs_curve_load_secret(at("server"), &server, err, sizeof(err)) ||
	    mfs_curve_load_secret(at("good"), &good, err, sizeof(err)) ||
	    mfs_curve_load_secret(at("bad"), &bad, err, sizeof(err)))
		tap_bail("keys: %s", err);
	snprintf(text, sizeof(text), "%s\n", good.public_z85);
	write_file(at("allowed"), text, 0644);
	if (mfs_authkeys_load(at("allowed"), &ak, err, sizeof(err)))
		tap_bail("authorized_keys: %s", err);

	is_int(mfs_zap_start(ctx, ak, NULL, &zap), 0, "ZAP handler starts");
	is_int(mfs_zap_start(ctx, ak, NULL, &zap2), -EADDRINUSE, "a second one: EADDRINUSE");
	mfs_authkeys_free(ak);  /* the handler keeps its own copy */

	router = zmq_socket(ctx, ZMQ_ROUTER);
	if (!router || zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof(zero)) ||
	    mfs_curve_server_setup(router, &server) ||
	    zmq_socket_monitor(router, "inproc://test-curve-monitor", ZMQ_EVENT_ALL) ||
	    !(mon = zmq_socket(ctx, ZMQ_PAIR)) || zmq_connect(mon, "inproc://test-curve-monitor") ||
	    zmq_bind(router, "tcp://127.0.0.1:*") ||
	    zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, endpoint, &len))
		tap_bail("server: %s", zmq_strerror(zmq_errno()));

	/* The client finds the server's key by its endpoint, as a node does for peer=. */
	snprintf(text, sizeof(text), "%s %s\n", server.public_z85, endpoint);
	write_file(at("servers"), text, 0644);
	if (mfs_authkeys_load(at("servers"), &ak2, err, sizeof(err)))
		tap_bail("authorized_keys: %s", err);
	server_z85 = mfs_authkeys_for_endpoint(ak2, endpoint);
	ok(server_z85 && !strcmp(server_z85, server.public_z85), "server key for %s", endpoint);
	if (!server_z85)
		tap_bail("no server key");

	/* A listed client: through, and named by its key. */
	c = dealer(ctx, &good, server_z85, endpoint);
	zmq_send(c, "ping", 4, 0);
	ok(readable(router, 5000), "listed client: the server receives within 5 s");
	zmq_msg_init(&m);
	rc = zmq_msg_recv(&m, router, 0);   /* routing id */
	ok(rc > 0 && zmq_msg_more(&m), "routing id frame");
	zmq_send(router, zmq_msg_data(&m), zmq_msg_size(&m), ZMQ_SNDMORE);
	zmq_msg_close(&m);
	zmq_msg_init(&m);
	rc = zmq_msg_recv(&m, router, ZMQ_DONTWAIT);
	ok(rc == 4 && !memcmp(zmq_msg_data(&m), "ping", 4), "the message is 'ping'");
	ok(zmq_msg_gets(&m, "User-Id") && !strcmp(zmq_msg_gets(&m, "User-Id"), good.public_z85),
	   "User-Id is the client's public key");
	zmq_msg_close(&m);
	zmq_send(router, "pong", 4, 0);
	ok(readable(c, 5000) && zmq_recv(c, text, sizeof(text), 0) == 4 && !memcmp(text, "pong", 4),
	   "the client gets the answer");
	zmq_close(c);
	ok(wait_events(mon, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, 1, 5000), "monitor: handshake done");

	/*
	 * An unlisted client: refused by ZAP.  libzmq 4.3.4 treats the refusal
	 * as a protocol error and does not reconnect, so a second socket with
	 * the same key makes the second attempt.
	 */
	c = dealer(ctx, &bad, server_z85, endpoint);
	zmq_send(c, "ping", 4, ZMQ_DONTWAIT);
	ok(!readable(router, 1000), "unlisted client: nothing reaches the server in 1 s");
	ok(wait_events(mon, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400, 1, 5000),
	   "monitor: ZAP refused it (400)");
	zmq_close(c);
	c = dealer(ctx, &bad, server_z85, endpoint);
	zmq_send(c, "ping", 4, ZMQ_DONTWAIT);
	ok(wait_events(mon, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400, 1, 5000),
	   "monitor: refused again on a second connection");
	ok(!readable(router, 0), "still nothing reached the server");
	zmq_close(c);
	is_int(count_lines(at("log"), bad.public_z85), 1, "the two refusals are logged once");
	ok(count_lines(at("log"), "from 127.0.0.1: key not in authorized_keys") == 1,
	   "the log line names the peer address and the reason");

	/* A listed client with the wrong server key: the server cannot read its HELLO. */
	c = dealer(ctx, &good, bad.public_z85, endpoint);
	zmq_send(c, "ping", 4, ZMQ_DONTWAIT);
	ok(!readable(router, 1000), "wrong server key: nothing reaches the server in 1 s");
	ok(wait_events(mon, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
		       ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC, 1, 5000),
	   "monitor: cryptographic handshake failure");
	ok(!readable(c, 0), "and the client got nothing");
	zmq_close(c);
	is_int(count_lines(at("log"), good.public_z85), 0, "nothing logged about the listed key");

	zmq_close(mon);
	zmq_close(router);
	mfs_zap_stop(zap);
	ok(zmq_ctx_term(ctx) == 0, "context terminates after mfs_zap_stop");
	mfs_authkeys_free(ak2);

	/* The other order: the context goes first, the handler's thread lets it. */
	ctx = zmq_ctx_new();
	write_file(at("empty"), "", 0644);
	if (mfs_authkeys_load(at("empty"), &ak, err, sizeof(err)) || mfs_zap_start(ctx, ak, NULL, &zap))
		tap_bail("second handler");
	ok(zmq_ctx_term(ctx) == 0, "context terminates with the handler running");
	mfs_zap_stop(zap);
	ok(1, "mfs_zap_stop after the context is gone");
	mfs_authkeys_free(ak);
}

/*
 * Requests are built by libzmq, but the handler must not trust them: it is
 * asked directly here, over its inproc endpoint, with malformed ones.
 * Returns the status code of the answer (or "no answer"), the user id in
 * user and whether the request id came back unchanged in *echoed.
 */
static const char *ask_zap(void *req, const void *const *frames, const size_t *lens, size_t n,
			   char *user, size_t userlen, int *echoed)
{
	static char status[16];
	char buf[512];
	int more = 1, i = 0, got;
	size_t ml = sizeof(more);

	for (size_t f = 0; f < n; f++)
		zmq_send(req, frames[f], lens[f], f + 1 < n ? ZMQ_SNDMORE : 0);
	if (!readable(req, 5000))
		return "no answer";
	*user = 0;
	*echoed = 0;
	strcpy(status, "?");
	for (; more; i++) {
		got = zmq_recv(req, buf, sizeof(buf) - 1, 0);
		buf[got < 0 ? 0 : got < (int)sizeof(buf) ? got : (int)sizeof(buf) - 1] = 0;
		if (i == 1)
			*echoed = n >= 2 && got == (int)lens[1] && !memcmp(buf, frames[1], lens[1]);
		if (i == 2)
			snprintf(status, sizeof(status), "%.8s", buf);
		if (i == 4)
			snprintf(user, userlen, "%.*s", (int)userlen - 1, buf);
		zmq_getsockopt(req, ZMQ_RCVMORE, &more, &ml);
	}
	return i == 6 ? status : "bad answer";
}

static void test_zap_malformed(void)
{
	struct mfs_curve_keys good, bad;
	struct mfs_authkeys *ak;
	struct mfs_zap *zap;
	static char big[1000];
	char err[512], user[128];
	void *ctx = zmq_ctx_new(), *req;
	uint8_t good_raw[32], bad_raw[32];
	/* A good request; frames past the seventh repeat the key. */
	const void *base[] = { "1.0", "7", MFS_ZAP_DOMAIN, "10.0.0.9", "", "CURVE", good_raw };
	const size_t base_len[] = { 3, 1, strlen(MFS_ZAP_DOMAIN), 8, 0, 5, 32 };
	const struct {
		const char *what, *want;
		int nframes, field;           /* field (-1: none) is replaced by value */
		const void *value;
		size_t len;
	} cases[] = {
		{ "a listed key", "200", 7, -1, NULL, 0 },
		{ "an unlisted key", "400", 7, 6, bad_raw, 32 },
		{ "another domain", "400", 7, 2, "other", 5 },
		{ "mechanism NULL", "400", 6, 5, "NULL", 4 },
		{ "version 2.0", "500", 7, 0, "2.0", 3 },
		{ "5 frames", "500", 5, -1, NULL, 0 },
		{ "one empty frame", "500", 1, 0, "", 0 },
		{ "CURVE with 2 keys", "500", 8, -1, NULL, 0 },
		{ "10 frames", "500", 10, -1, NULL, 0 },
		{ "a 31-byte key", "500", 7, 6, good_raw, 31 },
		{ "a 1000-byte address", "500", 7, 3, big, sizeof(big) },
		{ "a 1000-byte request id", "500", 7, 1, big, sizeof(big) },
		{ "a listed key, after all that", "200", 7, -1, NULL, 0 },
	};
	int echoed = 0, zero = 0;

	memset(big, 'x', sizeof(big));
	if (mfs_curve_load_secret(at("good"), &good, err, sizeof(err)) ||
	    mfs_curve_load_secret(at("bad"), &bad, err, sizeof(err)) ||
	    mfs_authkeys_load(at("allowed"), &ak, err, sizeof(err)) ||
	    mfs_zap_start(ctx, ak, NULL, &zap))
		tap_bail("malformed: %s", err);
	zmq_z85_decode(good_raw, good.public_z85);
	zmq_z85_decode(bad_raw, bad.public_z85);
	req = zmq_socket(ctx, ZMQ_REQ);
	if (!req || zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof(zero)) ||
	    zmq_connect(req, "inproc://zeromq.zap.01"))
		tap_bail("REQ: %s", zmq_strerror(zmq_errno()));
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const void *frames[10];
		size_t lens[10];
		const char *got;

		for (int f = 0; f < cases[c].nframes; f++) {
			int b = f < 7 ? f : 6;

			frames[f] = f == cases[c].field ? cases[c].value : base[b];
			lens[f] = f == cases[c].field ? cases[c].len : base_len[b];
		}
		got = ask_zap(req, frames, lens, cases[c].nframes, user, sizeof(user), &echoed);
		ok(!strcmp(got, cases[c].want), "ZAP request with %s: %s (want %s)", cases[c].what,
		   got, cases[c].want);
		if (!strcmp(cases[c].want, "200"))
			ok(!strcmp(user, good.public_z85) && echoed,
			   "  user id is the key, request id echoed");
		if (!strcmp(got, "no answer"))
			break;  /* REQ is stuck now */
	}
	is_int(count_lines(at("log"), "from 10.0.0.9: key not in authorized_keys"), 1,
	       "the unlisted key is logged");
	is_int(count_lines(at("log"), "malformed ZAP request"), 1,
	       "malformed requests are logged once a minute");
	zmq_close(req);
	mfs_zap_stop(zap);
	zmq_ctx_term(ctx);
	mfs_authkeys_free(ak);
}

int main(void)
{
	char cmd[600];

	if (!zmq_has("curve")) {
		printf("1..0 # SKIP libzmq without CURVE\n");
		return 0;
	}
	if (!mkdtemp(dir) || mfs_log_open(at("log"), -1, MFS_LOG_INFO))
		tap_bail("cannot make %s or its log", dir);
	test_keygen();
	test_load();
	test_endpoints();
	test_authkeys();
	test_zap();
	test_zap_malformed();
	mfs_log_close();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (tap_failed == 0 && system(cmd))
		printf("# could not remove %s\n", dir);
	else if (tap_failed)
		printf("# kept %s\n", dir);
	return done_testing();
}
