/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CURVE key files, the authorized_keys allow-list and the ZAP handler that
 * enforces it (replica/curve.h).  The peer service (replica/server.c,
 * replica/client.c) sets its sockets up through here; modelfs-admin keygen
 * writes the key files.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"
#include "store/base/node.h"
#include "store/base/errors.h"
#include "store/base/log.h"

#define LOG_COMPONENT "curve"

/* Formats err (if any) and returns rc: `return fail(rc, err, errlen, ...)`. */
__attribute__((format(printf, 4, 5)))
static int fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int mfs_curve_key_decode(const char *s, uint8_t raw[MFS_CURVE_KEY_LEN])
{
	uint8_t scratch[MFS_CURVE_KEY_LEN];

	/* zmq_z85_decode() writes len * 4 / 5 bytes: the length is checked first. */
	if (strlen(s) != MFS_CURVE_Z85_LEN)
		return -EINVAL;
	return zmq_z85_decode(raw ? raw : scratch, s) ? 0 : -EINVAL;
}

void mfs_curve_key_encode(const uint8_t raw[MFS_CURVE_KEY_LEN], char z85[MFS_CURVE_Z85_LEN + 1])
{
	zmq_z85_encode(z85, raw, MFS_CURVE_KEY_LEN);
}

/* ---- key files ------------------------------------------------------------ */

/* A key someone has been shown must survive a crash: fsync the directory too. */
static int fsync_parent(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		rc = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

/* Creates path (never replacing a file) holding one line; removes it again on failure. */
static int write_key_file(const char *path, const char *line, mode_t mode)
{
	size_t len = strlen(line), done = 0;
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	/* The umask may have taken bits off; the mode is part of the contract. */
	if (fchmod(fd, mode))
		rc = -errno;
	while (!rc && done < len) {
		ssize_t n = write(fd, line + done, len - done);

		if (n < 0 && errno != EINTR)
			rc = -errno;
		else if (n > 0)
			done += n;
	}
	if (!rc && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (rc)
		unlink(path);
	return rc;
}

int mfs_curve_keygen(const char *path, char public_z85[MFS_CURVE_Z85_LEN + 1])
{
	struct mfs_curve_keys k;
	char line[MFS_CURVE_Z85_LEN + 2];
	char *pub_path = NULL;
	struct stat st;
	int rc;

	if (asprintf(&pub_path, "%s.pub", path) < 0)
		return -ENOMEM;
	/* Checked first so that an existing FILE.pub leaves no new FILE behind. */
	rc = lstat(pub_path, &st) ? -errno : -EEXIST;
	if (rc != -ENOENT)
		goto out;
	if (zmq_curve_keypair(k.public_z85, k.secret_z85)) {
		rc = -zmq_errno();  /* ENOTSUP: libzmq built without CURVE */
		goto out;
	}
	snprintf(line, sizeof(line), "%s\n", k.secret_z85);
	if ((rc = write_key_file(path, line, 0600)))
		goto out;
	snprintf(line, sizeof(line), "%s\n", k.public_z85);
	if ((rc = write_key_file(pub_path, line, 0644))) {
		unlink(path);   /* not pub_path: it may be someone else's (EEXIST) */
		goto out;
	}
	if ((rc = fsync_parent(path))) {
		unlink(pub_path);
		unlink(path);
		goto out;
	}
	if (public_z85)
		memcpy(public_z85, k.public_z85, sizeof(k.public_z85));
out:
	explicit_bzero(&k, sizeof(k));
	explicit_bzero(line, sizeof(line));
	free(pub_path);
	return rc;
}

int mfs_curve_load_secret(const char *path, struct mfs_curve_keys *out, char *err, size_t errlen)
{
	char buf[128];
	struct stat st;
	size_t len = 0, key_len;
	int fd, rc = 0;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(-errno, err, errlen, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st)) {
		rc = fail(-errno, err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = fail(MFS_EFORMAT, err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		rc = fail(-EPERM, err, errlen, "%s: secret key is accessible by group or others "
			  "(mode %04o); chmod 600 it", path, (unsigned)st.st_mode & 07777);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fail(-errno, err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0 || (len += n) == sizeof(buf) - 1)
			break;
	}
	buf[len] = 0;
	key_len = strcspn(buf, " \t\r\n");
	/* One key, then only the end of the line: anything else is not our file. */
	if (key_len + strspn(buf + key_len, " \t\r\n") != len)
		key_len = 0;
	buf[key_len] = 0;
	if (len == sizeof(buf) - 1 || mfs_curve_key_decode(buf, NULL)) {
		rc = fail(MFS_EFORMAT, err, errlen, "%s: not a CURVE secret key (want one line "
			  "of %d Z85 characters, as modelfs-admin keygen writes)", path,
			  MFS_CURVE_Z85_LEN);
		goto out;
	}
	memcpy(out->secret_z85, buf, sizeof(out->secret_z85));
	if (zmq_curve_public(out->public_z85, out->secret_z85))
		rc = fail(-zmq_errno(), err, errlen, "%s: cannot derive the public key: %s", path,
			  zmq_strerror(zmq_errno()));
out:
	explicit_bzero(buf, sizeof(buf));
	if (rc)
		explicit_bzero(out, sizeof(*out));
	close(fd);
	return rc;
}

/* ---- endpoints ------------------------------------------------------------- */

static int host_char_ok(char c, int bracketed)
{
	if (bracketed)
		return isxdigit((unsigned char)c) || c == ':' || c == '.';
	return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

int mfs_endpoint_normalise(const char *in, char *out, size_t outlen)
{
	const char *host, *host_end, *p;
	char *end;
	unsigned long port;
	size_t len;
	int bracketed, n;

	if (!strncmp(in, "tcp://", 6))
		in += 6;
	bracketed = *in == '[';
	host = in + bracketed;
	if (bracketed) {
		if (!(host_end = strchr(host, ']')) || host_end[1] != ':')
			return -EINVAL;
		p = host_end + 1;
	} else {
		/* The last ':' starts the port; a bare IPv6 address has others and fails below. */
		if (!(p = strrchr(in, ':')))
			return -EINVAL;
		host_end = p;
	}
	if (host_end == host)
		return -EINVAL;
	if (!(host_end - host == 1 && *host == '*' && !bracketed))
		for (const char *c = host; c < host_end; c++)
			if (!host_char_ok(*c, bracketed))
				return -EINVAL;
	/* p is at the ':' before the port: decimal, 1-65535, no sign or spaces. */
	if (!isdigit((unsigned char)p[1]))
		return -EINVAL;
	errno = 0;
	port = strtoul(p + 1, &end, 10);
	if (*end || errno || port == 0 || port > 65535)
		return -EINVAL;
	len = host_end - host;
	n = snprintf(out, outlen, "tcp://%s%.*s%s:%lu", bracketed ? "[" : "", (int)len, host,
		     bracketed ? "]" : "", port);
	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	/* Names are case-insensitive, and so is hex: one spelling to compare. */
	for (char *c = out + 6; c < out + 6 + len + 2 * bracketed; c++)
		*c = tolower((unsigned char)*c);
	return 0;
}

int mfs_endpoint_is_loopback(const char *ep)
{
	char n[300];
	const char *host = n + 6;

	if (mfs_endpoint_normalise(ep, n, sizeof(n)))
		return 0;
	/* Only what cannot be reached from another machine: 127/8, ::1 and
	 * "localhost".  Any other name may resolve anywhere: not loopback. */
	if (!strncmp(host, "127.", 4) || !strncmp(host, "localhost:", 10) ||
	    !strncmp(host, "[::1]:", 6))
		return 1;
	return 0;
}

/* ---- authorized_keys ------------------------------------------------------- */

/* An endpoint of "tcp://" + a DNS name + ":65535" fits with room to spare. */
#define ENDPOINT_MAX 300

void mfs_authkeys_free(struct mfs_authkeys *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++)
		free(k->keys[i].endpoint);
	free(k->keys);
	free(k);
}

/* Parses one line of path into a new entry of k; a comment or blank line adds none. */
static int authkeys_line(struct mfs_authkeys *k, size_t *cap, char *line, const char *path,
			 unsigned lineno, char *err, size_t errlen)
{
	char *save = NULL, *key, *ep, *extra;
	char endpoint[ENDPOINT_MAX];
	struct mfs_authkey *a;

	key = strtok_r(line, " \t\r\n", &save);
	/*
	 * A '#' starts a comment wherever a field could start.  It cannot
	 * start a key: a Z85 group whose first character is '#' is more than
	 * 32 bits, and zmq_z85_decode() rejects it.
	 */
	if (!key || *key == '#')
		return 0;
	ep = strtok_r(NULL, " \t\r\n", &save);
	if (ep && *ep == '#')
		ep = NULL;
	extra = ep ? strtok_r(NULL, " \t\r\n", &save) : NULL;
	if (extra && *extra != '#')
		return fail(MFS_EFORMAT, err, errlen,
			    "%s:%u: unexpected '%.40s' after the endpoint", path, lineno, extra);
	if (strlen(key) != MFS_CURVE_Z85_LEN)
		return fail(MFS_EFORMAT, err, errlen,
			    "%s:%u: public key has %zu characters, want %d (Z85)", path, lineno,
			    strlen(key), MFS_CURVE_Z85_LEN);
	if (*cap == k->n) {
		size_t ncap = *cap ? 2 * *cap : 8;
		struct mfs_authkey *nk = realloc(k->keys, ncap * sizeof(*nk));

		if (!nk)
			return -ENOMEM;
		k->keys = nk;
		*cap = ncap;
	}
	a = &k->keys[k->n];
	memset(a, 0, sizeof(*a));
	if (mfs_curve_key_decode(key, a->public_raw))
		return fail(MFS_EFORMAT, err, errlen, "%s:%u: public key is not valid Z85", path,
			    lineno);
	memcpy(a->public_z85, key, sizeof(a->public_z85));
	if (ep && mfs_endpoint_normalise(ep, endpoint, sizeof(endpoint)))
		return fail(MFS_EFORMAT, err, errlen,
			    "%s:%u: bad endpoint '%.300s' (want HOST:PORT, tcp:// optional)", path,
			    lineno, ep);
	for (size_t i = 0; i < k->n; i++) {
		if (!memcmp(k->keys[i].public_raw, a->public_raw, sizeof(a->public_raw)))
			return fail(MFS_EFORMAT, err, errlen,
				    "%s:%u: key already listed on line %u", path, lineno,
				    k->keys[i].line);
		if (ep && k->keys[i].endpoint && !strcmp(k->keys[i].endpoint, endpoint))
			return fail(MFS_EFORMAT, err, errlen, "%s:%u: %s already listed on line %u",
				    path, lineno, endpoint, k->keys[i].line);
	}
	if (ep && !(a->endpoint = strdup(endpoint)))
		return -ENOMEM;
	a->line = lineno;
	k->n++;
	return 0;
}

int mfs_authkeys_load(const char *path, struct mfs_authkeys **out, char *err, size_t errlen)
{
	struct mfs_authkeys *k = NULL;
	char *line = NULL;
	size_t linecap = 0, cap = 0;
	unsigned lineno = 0;
	FILE *f;
	int rc = 0;

	*out = NULL;
	if (!(f = fopen(path, "re")))
		return fail(-errno, err, errlen, "%s: %s", path, strerror(errno));
	if (!(k = calloc(1, sizeof(*k)))) {
		rc = -ENOMEM;
		goto out;
	}
	errno = 0;
	while (getline(&line, &linecap, f) >= 0) {
		if ((rc = authkeys_line(k, &cap, line, path, ++lineno, err, errlen)))
			goto out;
		errno = 0;
	}
	if (errno)
		rc = fail(-errno, err, errlen, "%s: %s", path, strerror(errno));
out:
	if (rc == -ENOMEM)
		fail(rc, err, errlen, "%s: out of memory", path);
	if (rc) {
		mfs_authkeys_free(k);
		k = NULL;
	}
	*out = k;
	free(line);
	fclose(f);
	return rc;
}

const char *mfs_authkeys_for_endpoint(const struct mfs_authkeys *k, const char *endpoint)
{
	char norm[ENDPOINT_MAX];

	if (!k || mfs_endpoint_normalise(endpoint, norm, sizeof(norm)))
		return NULL;
	for (size_t i = 0; i < k->n; i++)
		if (k->keys[i].endpoint && !strcmp(k->keys[i].endpoint, norm))
			return k->keys[i].public_z85;
	return NULL;
}

/* ---- socket setup ---------------------------------------------------------- */

int mfs_curve_server_setup(void *sock, const struct mfs_curve_keys *k)
{
	int one = 1;

	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one)) ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k->secret_z85, MFS_CURVE_Z85_LEN) ||
	    zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, MFS_ZAP_DOMAIN, strlen(MFS_ZAP_DOMAIN)))
		return -zmq_errno();
	return 0;
}

int mfs_curve_client_setup(void *sock, const struct mfs_curve_keys *k,
			   const char *server_public_z85)
{
	if (mfs_curve_key_decode(server_public_z85, NULL))
		return -EINVAL;
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_public_z85, MFS_CURVE_Z85_LEN) ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, k->public_z85, MFS_CURVE_Z85_LEN) ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k->secret_z85, MFS_CURVE_Z85_LEN))
		return -zmq_errno();
	return 0;
}

/* ---- the ZAP handler --------------------------------------------------------- */

/*
 * libzmq asks the handler (RFC 27) with one request per handshake:
 *	"1.0", request id, domain, peer address, routing id, mechanism, credentials...
 * where CURVE has one credential, the client's 32-byte public key, and
 * expects: "1.0", request id, status code, status text, user id, metadata.
 * The request is built by libzmq, but its key and address come from the
 * network: every frame is checked and bounded before use.
 */
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAMES_MAX 8        /* CURVE sends 7; PLAIN 8; more is malformed */
#define ZAP_FRAME_LEN_MAX 255   /* RFC 27 frames other than credentials are short strings */
#define ZAP_LOG_SLOTS 64        /* distinct refused keys logged per interval */
#define ZAP_LOG_INTERVAL_S 60

struct zap_key {
	uint8_t raw[MFS_CURVE_KEY_LEN];
	char z85[MFS_CURVE_Z85_LEN + 1];
};

struct zap_logged {
	uint8_t key[MFS_CURVE_KEY_LEN];
	const char *why;                    /* a static string: compared by address */
	time_t last;                        /* CLOCK_MONOTONIC seconds */
	int used;
};

struct mfs_zap {
	void *sock;                         /* REP; the thread's alone once it runs */
	int stop_pipe[2];
	pthread_t thread;
	struct zap_key *keys;               /* immutable while the thread runs */
	size_t nkeys;
	struct zap_logged logged[ZAP_LOG_SLOTS]; /* the thread's alone */
	struct mfs_zap_allow allowed;       /* fn NULL: the file's keys only */
	char user[MFS_CURVE_Z85_LEN + 1];   /* the thread's: User-Id of a key allowed */
};

/*
 * Whether to log a refusal of key for why now: once a minute per key and
 * reason, and no more than ZAP_LOG_SLOTS of those a minute, so that clients
 * reconnecting, or a stream of made-up keys, cannot flood the log.
 */
static int zap_should_log(struct mfs_zap *z, const uint8_t key[MFS_CURVE_KEY_LEN], const char *why)
{
	struct zap_logged *slot = NULL, *oldest = &z->logged[0];
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	for (size_t i = 0; i < ZAP_LOG_SLOTS && !slot; i++) {
		struct zap_logged *l = &z->logged[i];

		if (l->used && l->why == why && !memcmp(l->key, key, MFS_CURVE_KEY_LEN))
			slot = l;
		else if (!l->used || (oldest->used && l->last < oldest->last))
			oldest = l;
	}
	if (!slot) {
		slot = oldest;
		if (slot->used && ts.tv_sec - slot->last < ZAP_LOG_INTERVAL_S)
			return 0;
		memcpy(slot->key, key, MFS_CURVE_KEY_LEN);
		slot->why = why;
	} else if (ts.tv_sec - slot->last < ZAP_LOG_INTERVAL_S) {
		return 0;
	}
	slot->used = 1;
	slot->last = ts.tv_sec;
	return 1;
}

/* A frame as a C string for a log line: bounded, non-printable bytes as '?'. */
static void frame_text(zmq_msg_t *m, char *out, size_t outlen)
{
	const char *d = zmq_msg_data(m);
	size_t n = zmq_msg_size(m) < outlen - 1 ? zmq_msg_size(m) : outlen - 1;

	for (size_t i = 0; i < n; i++)
		out[i] = d[i] >= 0x20 && d[i] < 0x7f ? d[i] : '?';
	out[n] = 0;
}

static int frame_is(zmq_msg_t *m, const char *s)
{
	return zmq_msg_size(m) == strlen(s) && !memcmp(zmq_msg_data(m), s, strlen(s));
}

static int zap_send(void *sock, const void *data, size_t len, int more)
{
	while (zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0) < 0)
		if (zmq_errno() != EINTR)
			return -zmq_errno();
	return 0;
}

/* Whether f[0..n) is an RFC 27 version 1.0 request whose string frames are of sane length. */
static int zap_well_formed(zmq_msg_t *f, size_t n)
{
	if (n < 6 || !frame_is(&f[0], "1.0"))
		return 0;
	for (size_t i = 1; i < 6; i++)
		if (zmq_msg_size(&f[i]) > ZAP_FRAME_LEN_MAX)
			return 0;
	return 1;
}

/* The Z85 form of key if it is listed or allowed, else NULL. */
static const char *zap_listed(struct mfs_zap *z, const uint8_t *key)
{
	for (size_t i = 0; i < z->nkeys; i++)
		if (!memcmp(z->keys[i].raw, key, MFS_CURVE_KEY_LEN))
			return z->keys[i].z85;
	if (z->allowed.fn && z->allowed.fn(z->allowed.arg, key) == 1) {
		zmq_z85_encode(z->user, key, MFS_CURVE_KEY_LEN);
		return z->user;
	}
	return NULL;
}

/* Judges the request f[0..n): the status, text and user id of the answer. */
static void zap_judge(struct mfs_zap *z, zmq_msg_t *f, size_t n, const char **status,
		      const char **text, const char **user)
{
	static const uint8_t no_key[MFS_CURVE_KEY_LEN];
	const uint8_t *key = no_key;
	char addr[64] = "?", mech[16] = "?", key_z85[MFS_CURVE_Z85_LEN + 1] = "-";

	*status = "400";
	*user = "";
	if (!zap_well_formed(f, n)) {
		*status = "500";
		*text = "malformed ZAP request";
	} else if (!frame_is(&f[5], "CURVE")) {
		*text = "CURVE required";
	} else if (n != 7 || zmq_msg_size(&f[6]) != MFS_CURVE_KEY_LEN) {
		*status = "500";
		*text = "malformed ZAP request";
	} else {
		key = zmq_msg_data(&f[6]);
		zmq_z85_encode(key_z85, key, MFS_CURVE_KEY_LEN);
		if (!frame_is(&f[2], MFS_ZAP_DOMAIN)) {
			*text = "unknown ZAP domain";
		} else if ((*user = zap_listed(z, key))) {
			*status = "200";
			*text = "OK";
			return;
		} else {
			*user = "";
			*text = "key not in authorized_keys nor allowed by the cluster";
		}
	}
	if (!zap_should_log(z, key, *text))
		return;
	if (zap_well_formed(f, n)) {
		frame_text(&f[3], addr, sizeof(addr));
		frame_text(&f[5], mech, sizeof(mech));
	}
	log_warn("refused %s client %s from %s: %s", mech, key_z85, addr, *text);
}

/*
 * Reads one request and answers it.  REP answers only after the last frame
 * has been read, so every frame is read; those past ZAP_FRAMES_MAX are
 * dropped and make the request malformed.  Returns 0 or -errno (-ETERM:
 * the context is going away).
 */
static int zap_answer(struct mfs_zap *z)
{
	zmq_msg_t f[ZAP_FRAMES_MAX], spill;
	const char *status, *text, *user;
	const void *id = "";
	size_t n = 0, id_len = 0;
	int more, extra = 0, rc = 0;

	do {
		zmq_msg_t *m = n < ZAP_FRAMES_MAX ? &f[n] : &spill;

		zmq_msg_init(m);
		while ((rc = zmq_msg_recv(m, z->sock, 0)) < 0 && zmq_errno() == EINTR)
			;
		if (rc < 0) {
			rc = -zmq_errno();
			zmq_msg_close(m);
			goto out;
		}
		more = zmq_msg_more(m);
		if (m == &spill) {
			zmq_msg_close(m);
			extra = 1;
		} else {
			n++;
		}
	} while (more);

	zap_judge(z, f, extra ? 0 : n, &status, &text, &user);
	/* The request id goes back as it came, if it is one. */
	if (n >= 2 && zmq_msg_size(&f[1]) <= ZAP_FRAME_LEN_MAX) {
		id = zmq_msg_data(&f[1]);
		id_len = zmq_msg_size(&f[1]);
	}
	if ((rc = zap_send(z->sock, "1.0", 3, 1)) || (rc = zap_send(z->sock, id, id_len, 1)) ||
	    (rc = zap_send(z->sock, status, strlen(status), 1)) ||
	    (rc = zap_send(z->sock, text, strlen(text), 1)) ||
	    (rc = zap_send(z->sock, user, strlen(user), 1)) || (rc = zap_send(z->sock, "", 0, 0)))
		if (rc != -ETERM)
			log_warn("cannot answer a ZAP request: %s", zmq_strerror(-rc));
out:
	for (size_t i = 0; i < n; i++)
		zmq_msg_close(&f[i]);
	return rc;
}

static void *zap_thread(void *arg)
{
	struct mfs_zap *z = arg;
	zmq_pollitem_t items[2] = {
		{ .socket = z->sock, .events = ZMQ_POLLIN },
		{ .fd = z->stop_pipe[0], .events = ZMQ_POLLIN },
	};

	/*
	 * A pipe rather than a second socket wakes the thread, so that the
	 * handler's only socket is its own: a context terminated before
	 * mfs_zap_stop() makes zmq_poll() fail with ETERM, the socket is
	 * closed here, and zmq_ctx_term() can finish.
	 */
	for (;;) {
		if (zmq_poll(items, 2, -1) < 0) {
			if (zmq_errno() == EINTR)
				continue;
			break;
		}
		if (items[1].revents)
			break;
		if (items[0].revents & ZMQ_POLLIN && zap_answer(z) == -ETERM)
			break;
	}
	zmq_close(z->sock);
	return NULL;
}

int mfs_zap_start(void *zmq_ctx, const struct mfs_authkeys *k, const struct mfs_zap_allow *allowed,
		  struct mfs_zap **out)
{
	struct mfs_zap *z;
	int linger = 0, rc;

	*out = NULL;
	if (!(z = calloc(1, sizeof(*z))))
		return -ENOMEM;
	z->stop_pipe[0] = z->stop_pipe[1] = -1;
	if (allowed)
		z->allowed = *allowed;
	if (k->n && !(z->keys = calloc(k->n, sizeof(*z->keys)))) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < k->n; i++) {
		memcpy(z->keys[i].raw, k->keys[i].public_raw, MFS_CURVE_KEY_LEN);
		memcpy(z->keys[i].z85, k->keys[i].public_z85, sizeof(z->keys[i].z85));
	}
	z->nkeys = k->n;
	if (pipe2(z->stop_pipe, O_CLOEXEC)) {
		rc = -errno;
		goto out;
	}
	if (!(z->sock = zmq_socket(zmq_ctx, ZMQ_REP))) {
		rc = -zmq_errno();
		goto out;
	}
	/* Bound here, not in the thread: the caller binds its servers next. */
	if (zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger)) ||
	    zmq_bind(z->sock, ZAP_ENDPOINT)) {
		rc = -zmq_errno();
		goto out;
	}
	rc = -pthread_create(&z->thread, NULL, zap_thread, z);
out:
	if (rc) {
		if (z->sock)
			zmq_close(z->sock);
		if (z->stop_pipe[0] >= 0) {
			close(z->stop_pipe[0]);
			close(z->stop_pipe[1]);
		}
		free(z->keys);
		free(z);
		return rc;
	}
	*out = z;
	return 0;
}

void mfs_zap_stop(struct mfs_zap *z)
{
	if (!z)
		return;
	/* The thread may be gone already (ETERM); the pipe's reader is still open. */
	while (write(z->stop_pipe[1], "x", 1) < 0 && errno == EINTR)
		;
	pthread_join(z->thread, NULL);
	close(z->stop_pipe[0]);
	close(z->stop_pipe[1]);
	free(z->keys);
	free(z);
}

int mfs_curve_z85_node_id(const char *public_z85, mfs_node_t *id)
{
	uint8_t raw[MFS_CURVE_KEY_LEN];

	if (mfs_curve_key_decode(public_z85, raw))
		return -EINVAL;
	return mfs_node_from_key(raw, id);
}

int mfs_curve_node_id(const struct mfs_curve_keys *k, mfs_node_t *id)
{
	return mfs_curve_z85_node_id(k->public_z85, id);
}
