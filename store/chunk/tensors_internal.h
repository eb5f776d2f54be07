/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the two header parsers, tensors.c (safetensors) and tensors_gguf.c. */
#ifndef MFS_TENSORS_INTERNAL_H
#define MFS_TENSORS_INTERNAL_H

#include <stddef.h>

#include "tensors.h"

/* Appends x to t (a growing array of *cap); MFS_EFORMAT past MFS_TENSORS_MAX. */
int mfs_tensors_add(struct mfs_tensors *t, size_t *cap, const struct mfs_tensor *x);

/* a * b into *out; -1 on overflow past 2^63. */
int mfs_tensors_mul(uint64_t a, uint64_t b, uint64_t *out);

/* Parses a GGUF header (buf starts with its magic); as mfs_tensors_parse. */
int mfs_tensors_parse_gguf(const uint8_t *buf, size_t len, struct mfs_tensors *out);

#endif
