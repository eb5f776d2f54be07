/* SPDX-License-Identifier: Apache-2.0 */
/* Member records: encoding, and their place in the namespace (member.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "member.h"
#include "namespace.h"
#include "ns_internal.h"
#include "store/base/bytes.h"
#include "store/base/errors.h"
#include "store/kv/db.h"

static const char *const names[MFS_MEMBER_STATES] = { "joining", "active", "draining", "gone" };

const char *mfs_member_state_name(uint8_t state)
{
	return state < MFS_MEMBER_STATES ? names[state] : "?";
}

int mfs_member_state_parse(const char *name, uint8_t *state)
{
	for (uint8_t i = 0; i < MFS_MEMBER_STATES; i++)
		if (!strcmp(name, names[i])) {
			*state = i;
			return 0;
		}
	return -EINVAL;
}

/* Printable ASCII without spaces: what a status line or a socket address can carry. */
static int text_ok(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] <= ' ' || p[i] > '~')
			return 0;
	return 1;
}

int mfs_member_encode(const struct mfs_member *m, uint8_t out[MFS_MEMBER_MAX_LEN])
{
	size_t el = strlen(m->endpoint), kl = strlen(m->key);
	size_t n = 0;

	if (m->state >= MFS_MEMBER_STATES || m->space == 0 || el == 0 || el > 255 ||
	    (kl != 0 && kl != MFS_MEMBER_KEY_LEN))
		return -EINVAL;
	out[n++] = MFS_MEMBER_VERSION;
	out[n++] = m->state;
	put_le16(out + n, m->space);
	n += 2;
	out[n++] = (uint8_t)el;
	memcpy(out + n, m->endpoint, el);
	n += el;
	out[n++] = (uint8_t)kl;
	memcpy(out + n, m->key, kl);
	return (int)(n + kl);
}

int mfs_member_decode(mfs_node_t id, const uint8_t *p, size_t n, struct mfs_member *m)
{
	struct mfs_rd r = { .p = p, .left = n };
	const uint8_t *ep, *key;
	uint8_t version, el, kl;

	memset(m, 0, sizeof(*m));
	version = mfs_rd_u8(&r);
	m->state = mfs_rd_u8(&r);
	m->space = mfs_rd_u16(&r);
	el = mfs_rd_u8(&r);
	ep = mfs_rd_take(&r, el);
	kl = mfs_rd_u8(&r);
	key = mfs_rd_take(&r, kl);
	if (r.bad || r.left || id == 0 || version != MFS_MEMBER_VERSION ||
	    m->state >= MFS_MEMBER_STATES || m->space == 0 || el == 0 || !text_ok(ep, el) ||
	    (kl != 0 && kl != MFS_MEMBER_KEY_LEN) || !text_ok(key, kl))
		return MFS_EFORMAT;
	m->id = id;
	memcpy(m->endpoint, ep, el);
	memcpy(m->key, key, kl);
	return 0;
}

/* meta CF key of node id's record: "mb" + u64 BE (ns_internal.h). */
void member_key(mfs_node_t id, uint8_t out[MEMBER_KEY_LEN])
{
	out[0] = 'm';
	out[1] = 'b';
	put_be64(out + 2, id);
}

int mfs_ns_member_put(struct mfs_ns *ns, const struct mfs_member *m)
{
	uint8_t val[MFS_MEMBER_MAX_LEN], idk[MFS_MEMBER_ID_LEN], mk[MEMBER_KEY_LEN];
	struct ns_txn t;
	int len = mfs_member_encode(m, val), rc;

	if (len < 0 || !m->id)
		return -EINVAL;
	put_be64(idk, m->id);
	member_key(m->id, mk);
	pthread_mutex_lock(&ns->lock);
	if (!(rc = txn_begin(ns, &t))) {
		mfs_op_add(&t.op, MFS_OP_NODE, 0, idk, sizeof(idk), val, (size_t)len);
		mfs_batch_put(t.b, MFS_CF_META, mk, sizeof(mk), val, (size_t)len);
		rc = txn_commit(ns, &t);
	}
	rc = ns_unlock_durable(ns, rc, NS_SYNC_NOW);
	txn_free(&t);
	return rc;
}

int mfs_ns_member_get(struct mfs_ns *ns, mfs_node_t id, struct mfs_member *m)
{
	uint8_t mk[MEMBER_KEY_LEN];
	struct mfs_val v;
	int rc;

	member_key(id, mk);
	if ((rc = mfs_db_get(ns->db, MFS_CF_META, mk, sizeof(mk), &v, 1)))
		return rc;
	rc = mfs_member_decode(id, v.p, v.len, m);
	mfs_val_release(&v);
	return rc;
}

int mfs_ns_members(struct mfs_ns *ns, struct mfs_member **out, int *n)
{
	struct mfs_iter *it = mfs_iter_new(ns->db, MFS_CF_META, "mb", 2);
	struct mfs_member *v = NULL;
	size_t cap = 0, cnt = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (!it)
		return -ENOMEM;
	for (; mfs_iter_valid(it); mfs_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = mfs_iter_key(it, &kl), *val = mfs_iter_value(it, &vl);

		if (kl != MEMBER_KEY_LEN)
			continue;
		if (mfs_grow(&v, &cap, cnt, sizeof(*v))) {
			rc = -ENOMEM;
			break;
		}
		/* Checked when applied; a record that does not decode now is skipped. */
		if (!mfs_member_decode(get_be64(k + 2), val, vl, &v[cnt]))
			cnt++;
	}
	if (!rc)
		rc = mfs_iter_error(it);
	mfs_iter_free(it);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n = (int)cnt;
	return 0;
}

/* Whether a member of state s stands for an inode space no one else repairs. */
static int left(uint8_t s)
{
	return s == MFS_MEMBER_GONE;
}

int ns_adopted_spaces(struct mfs_ns *ns, uint16_t **out, int *n)
{
	struct mfs_member *v;
	mfs_node_t lowest = 0;
	int cnt, rc, k = 0;

	*out = NULL;
	*n = 0;
	if ((rc = mfs_ns_members(ns, &v, &cnt)))
		return rc;
	for (int i = 0; i < cnt; i++)
		if (v[i].state == MFS_MEMBER_ACTIVE && (!lowest || v[i].id < lowest))
			lowest = v[i].id;
	if (lowest != ns->node_id || !(*out = calloc(cnt, sizeof(**out))))
		goto out;
	for (int i = 0; i < cnt; i++) {
		int taken = !left(v[i].state) || v[i].space == ns->space;

		/* A space a member still uses (a node back under another id) stays its own. */
		for (int j = 0; j < cnt && !taken; j++)
			taken = !left(v[j].state) && v[j].space == v[i].space;
		if (!taken)
			(*out)[k++] = v[i].space;
	}
	*n = k;
out:
	free(v);
	return rc;
}
