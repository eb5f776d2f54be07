/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error codes shared by every layer.
 *
 * Functions return 0 or a negative errno.  Conditions that have no errno of
 * their own live in a reserved negative range below MFS_E_BASE; mfs_strerror()
 * names both kinds.  At the FUSE boundary mfs_errno() folds the private
 * range into EIO so the kernel only ever sees real errnos.
 */
#ifndef MFS_ERRORS_H
#define MFS_ERRORS_H

#define MFS_E_BASE 2000

enum mfs_error {
	MFS_ECORRUPT = -(MFS_E_BASE + 1),  /* stored bytes fail their checksum */
	MFS_EBADHASH = -(MFS_E_BASE + 2),  /* bytes do not hash to their key */
	MFS_EFORMAT  = -(MFS_E_BASE + 3),  /* unknown format version or codec */
	MFS_EDB      = -(MFS_E_BASE + 4),  /* RocksDB reported an error */
	MFS_EMISSING = -(MFS_E_BASE + 5),  /* a referenced chunk is not stored */
};

/* Static string for rc (negative errno or MFS_E*); never NULL. */
const char *mfs_strerror(int rc);

/* Map rc to a positive errno suitable for fuse_reply_err(). */
int mfs_errno(int rc);

#endif
