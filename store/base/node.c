/* SPDX-License-Identifier: Apache-2.0 */
/* Node ids (node.h). */
#include <errno.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "node.h"

int mfs_node_from_key(const uint8_t key[32], mfs_node_t *id)
{
	struct mfs_hash h;
	int rc = mfs_sha256(key, 32, &h);

	*id = 0;
	for (int i = 0; !rc && i < 8; i++)
		*id = *id << 8 | h.b[i];
	if (!rc && !*id)
		*id = 1;
	return rc;
}

mfs_node_t mfs_node_random(void)
{
	mfs_node_t id = 0;

	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id)) {
			struct timespec t;

			clock_gettime(CLOCK_REALTIME, &t);
			id = (uint64_t)t.tv_nsec << 32 ^ (uint64_t)t.tv_sec ^ (uint64_t)getpid() << 16;
		}
	return id;
}

int mfs_node_parse(const char *s, mfs_node_t *out)
{
	mfs_node_t id = 0;
	int i;

	for (i = 0; i < MFS_NODE_HEX_LEN; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (d < 0)
			return -EINVAL;
		id = id << 4 | (unsigned)d;
	}
	if (s[i])
		return -EINVAL;
	*out = id;
	return 0;
}
