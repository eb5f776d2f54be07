/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The address a node that listens on a wildcard (listen=*:PORT, 0.0.0.0,
 * [::]) advertises when advertise= is not set.  A wildcard is for bind(),
 * not an address a peer can connect to: such a node used to write no
 * member record and say no HELLO, so only the seeds it reached pulled from
 * it, and every other node never learned it (replication.md, stop 24).
 *
 * The address is the one the kernel would send from toward the node's
 * first seed that resolves: a UDP socket connected there (no packet is
 * sent) and getsockname(), the routing table's answer, which is the
 * address that seed, and any node on the same network, reaches this one
 * at.  With no seed (the first node of a cluster), the source of its
 * default route.  It is wrong behind NAT or where peers sit on another
 * network than the seeds: advertise= says so there.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "internal.h"

/* Splits "tcp://host:port" (normalised) into host (no brackets) and port. */
static int split(const char *ep, char *host, size_t hcap, char *port, size_t pcap)
{
	const char *h = !strncmp(ep, "tcp://", 6) ? ep + 6 : ep, *colon = strrchr(h, ':');
	size_t len;

	if (!colon || !colon[1] || strlen(colon + 1) >= pcap)
		return -EINVAL;
	len = (size_t)(colon - h);
	if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
		h++;
		len -= 2;
	}
	if (!len || len >= hcap)
		return -EINVAL;
	memcpy(host, h, len);
	host[len] = 0;
	snprintf(port, pcap, "%s", colon + 1);
	return 0;
}

/* The source address toward host:port, as text ("[v6]" bracketed) in out. */
static int source_toward(const char *host, const char *port, char *out, size_t cap)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res = NULL;
	int rc = -EHOSTUNREACH;

	if (getaddrinfo(host, port, &hints, &res))
		return -EHOSTUNREACH;
	for (struct addrinfo *a = res; a && rc; a = a->ai_next) {
		struct sockaddr_storage me;
		socklen_t len = sizeof(me);
		char text[INET6_ADDRSTRLEN];
		int fd = socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		const void *addr;

		if (fd < 0)
			continue;
		if (!connect(fd, a->ai_addr, a->ai_addrlen) &&
		    !getsockname(fd, (struct sockaddr *)&me, &len)) {
			addr = me.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&me)->sin6_addr
							: (const void *)&((struct sockaddr_in *)&me)->sin_addr;
			/* A link-local IPv6 source needs a scope no peer knows. */
			if (me.ss_family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL((const struct in6_addr *)addr))
				addr = NULL;
			if (addr && inet_ntop(me.ss_family, addr, text, sizeof(text)) &&
			    strcmp(text, "0.0.0.0") && strcmp(text, "::"))
				rc = snprintf(out, cap, me.ss_family == AF_INET6 ? "[%s]" : "%s", text) <
					     (int)cap ? 0 : -ENAMETOOLONG;
		}
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

int self_endpoint(const struct mfs_replica *r, const char *listen, char *out, size_t cap)
{
	char host[256], port[8], lport[8], src[INET6_ADDRSTRLEN + 2];
	int rc = -EHOSTUNREACH;

	if (split(listen, host, sizeof(host), lport, sizeof(lport)))
		return -EINVAL;
	for (int i = 0; i < r->cfg.npeers && rc; i++) {
		char ep[300];

		if (!mfs_endpoint_normalise(r->cfg.peers[i], ep, sizeof(ep)) &&
		    !split(ep, host, sizeof(host), port, sizeof(port)))
			rc = source_toward(host, port, src, sizeof(src));
	}
	/* No seed: the default route's source.  A documentation address
	 * (RFC 5737), only looked up in the routing table, never sent to. */
	if (rc)
		rc = source_toward("192.0.2.1", "9", src, sizeof(src));
	if (rc)
		return rc;
	return snprintf(out, cap, "tcp://%s:%s", src, lport) < (int)cap ? 0 : -ENAMETOOLONG;
}
