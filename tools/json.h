/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small JSON writer for modelfs-admin's --json outputs.  It keeps the
 * commas: each value says which key (inside an object) or none (inside an
 * array, or at the top), and the writer puts the separator before it.
 * One writer per output; nesting up to JSON_DEPTH levels.
 *
 *   struct json j;
 *   json_init(&j, stdout);
 *   json_open(&j, NULL, '{');
 *   json_u64(&j, "files", 3);
 *   json_open(&j, "failed", '[');
 *   json_str(&j, NULL, "a/b");
 *   json_close(&j);           -- closes the list
 *   json_close(&j);           -- closes the object
 *   json_end(&j);             -- the newline
 */
#ifndef MFS_ADMIN_JSON_H
#define MFS_ADMIN_JSON_H

#include <stdio.h>

#define JSON_DEPTH 16

struct json {
	FILE *f;
	int depth;
	char closer[JSON_DEPTH];   /* '}' or ']' of each open level */
	unsigned char more[JSON_DEPTH]; /* a value was written at this level */
};

void json_init(struct json *j, FILE *f);
/* Opens an object ('{') or a list ('['), as the value of key (NULL: none). */
void json_open(struct json *j, const char *key, char kind);
void json_close(struct json *j);
void json_str(struct json *j, const char *key, const char *v);
void json_u64(struct json *j, const char *key, unsigned long long v);
void json_i64(struct json *j, const char *key, long long v);
void json_bool(struct json *j, const char *key, int v);
void json_null(struct json *j, const char *key);
/* v, or null when v is NULL. */
void json_str_or_null(struct json *j, const char *key, const char *v);
/* v with decimals digits after the point. */
void json_double(struct json *j, const char *key, double v, int decimals);
/* v as a number if it reads as one (a report's value), else as a string. */
void json_auto(struct json *j, const char *key, const char *v);
/* The newline after the top value. */
void json_end(struct json *j);

/* s as a JSON string literal on f. */
void json_string_literal(FILE *f, const char *s);
/* Whether s is a JSON number as written (decimal, optional sign, fraction, exponent). */
int json_is_number(const char *s);

#endif
