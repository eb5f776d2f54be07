/* SPDX-License-Identifier: Apache-2.0 */
/* A small JSON writer (json.h). */
#include <ctype.h>
#include <string.h>

#include "json.h"

void json_init(struct json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

/* The separator and key before a value at the current level. */
static void value_prefix(struct json *j, const char *key)
{
	if (j->more[j->depth])
		fputs(", ", j->f);
	j->more[j->depth] = 1;
	if (key) {
		json_string_literal(j->f, key);
		fputs(": ", j->f);
	}
}

void json_open(struct json *j, const char *key, char kind)
{
	value_prefix(j, key);
	fputc(kind, j->f);
	if (j->depth + 1 < JSON_DEPTH) {
		j->depth++;
		j->closer[j->depth] = kind == '{' ? '}' : ']';
		j->more[j->depth] = 0;
	}
}

void json_close(struct json *j)
{
	if (j->depth > 0)
		fputc(j->closer[j->depth--], j->f);
}

void json_str(struct json *j, const char *key, const char *v)
{
	value_prefix(j, key);
	json_string_literal(j->f, v ? v : "");
}

void json_u64(struct json *j, const char *key, unsigned long long v)
{
	value_prefix(j, key);
	fprintf(j->f, "%llu", v);
}

void json_i64(struct json *j, const char *key, long long v)
{
	value_prefix(j, key);
	fprintf(j->f, "%lld", v);
}

void json_bool(struct json *j, const char *key, int v)
{
	value_prefix(j, key);
	fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *key)
{
	value_prefix(j, key);
	fputs("null", j->f);
}

void json_str_or_null(struct json *j, const char *key, const char *v)
{
	if (v)
		json_str(j, key, v);
	else
		json_null(j, key);
}

void json_double(struct json *j, const char *key, double v, int decimals)
{
	value_prefix(j, key);
	fprintf(j->f, "%.*f", decimals, v);
}

void json_auto(struct json *j, const char *key, const char *v)
{
	if (v && json_is_number(v)) {
		value_prefix(j, key);
		fputs(v, j->f);
	} else {
		json_str(j, key, v);
	}
}

void json_end(struct json *j)
{
	while (j->depth > 0)
		json_close(j);
	fputc('\n', j->f);
}

void json_string_literal(FILE *f, const char *s)
{
	putc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			putc(*s, f);
	}
	putc('"', f);
}

/* JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
int json_is_number(const char *s)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (isdigit((unsigned char)*p))
			p++;
	else
		return 0;
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return *p == 0;
}
