/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Names for error codes, and the one place where modelfs-private codes are
 * folded into errnos the kernel understands (store/base/errors.h).
 */
#include <errno.h>
#include <string.h>

#include "errors.h"

const char *mfs_strerror(int rc)
{
	const char *s;

	switch (rc) {
	case 0:
		return "success";
	case MFS_ECORRUPT:
		return "stored data is corrupt (checksum mismatch)";
	case MFS_EBADHASH:
		return "data does not match its hash";
	case MFS_EFORMAT:
		return "unknown format version or codec";
	case MFS_EDB:
		return "database error";
	case MFS_EMISSING:
		return "chunk not stored";
	}
	/*
	 * strerrordesc_np() rather than strerror(): it returns static strings
	 * and NULL for unknown numbers, where strerror() formats "Unknown
	 * error N" into a buffer the next call overwrites.
	 */
	if (rc < 0 && rc > -MFS_E_BASE && (s = strerrordesc_np(-rc)))
		return s;
	return "unknown error";
}

int mfs_errno(int rc)
{
	if (rc == 0)
		return 0;
	/* Private codes, and positive values that are not errors at all. */
	if (rc <= -MFS_E_BASE || rc > 0)
		return EIO;
	return -rc;
}
