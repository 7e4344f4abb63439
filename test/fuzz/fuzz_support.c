/*-------------------------------------------------------------------------
 *
 * fuzz_support.c
 *	  Support code of momo's libFuzzer targets.
 *
 *	  Memory: in the backend every allocation belongs to a memory context
 *	  that is reset after the answer is handled; the frontend palloc of
 *	  libpgcommon is plain malloc and nothing is ever freed, so a fuzzing
 *	  run would grow until libFuzzer stops it as out of memory.  This file
 *	  replaces libpgcommon's palloc family (the linker then leaves
 *	  fe_memutils.o out) with one that keeps every chunk on a list and
 *	  frees the list after each input, like a context reset: AddressSanitizer
 *	  then also sees a pointer kept from one input to the next.  It also
 *	  applies the backend's allocation limit (MaxAllocSize), whose breach
 *	  would be an ERROR there.
 *
 *	  Parser depth: the build links with --wrap=pg_parse_json, so momo's
 *	  calls of the parser come here first; an input nested deeper than
 *	  FUZZ_MAX_PARSE_DEPTH would make the backend's parser raise, and is a
 *	  finding.
 *
 *	  Reference reading: ref_parse reads a body with the same parser but
 *	  its own callbacks, into a flat list of the members of the top-level
 *	  object and of the objects one level down, so the targets can compare
 *	  momo's results with what the body says.
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_support.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

/* The backend's limit on one allocation (utils/memutils.h, not usable in FRONTEND). */
#define MaxAllocSize ((Size) 0x3fffffff)
#define AllocSizeIsValid(size) ((Size) (size) <= MaxAllocSize)

/* ------------------------------------------------------------ failures -- */

/* Reports a violated invariant and aborts, so libFuzzer keeps the input. */
void
fuzz_fail_at(const char *file, int line, const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "\n==momo-fuzz== invariant violated at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

/* --------------------------------------------------- per-input palloc -- */

/* Header of each chunk: the list of live chunks, and the requested size. */
typedef struct Chunk
{
	struct Chunk *prev;
	struct Chunk *next;
	size_t		size;
	size_t		pad;			/* keeps the payload 16-byte aligned, like malloc */
} Chunk;

static Chunk *chunks = NULL;

/* Allocates size bytes owned by the current input. */
static void *
chunk_alloc(size_t size, bool zero)
{
	Chunk	   *c;

	if (!AllocSizeIsValid(size))
		fuzz_fail("palloc(%zu): the backend raises \"invalid memory alloc request size\"", size);
	c = zero ? calloc(1, sizeof(Chunk) + size) : malloc(sizeof(Chunk) + size);
	if (c == NULL)
		fuzz_fail("out of memory allocating %zu bytes", size);
	c->size = size;
	c->prev = NULL;
	c->next = chunks;
	if (chunks)
		chunks->prev = c;
	chunks = c;
	return c + 1;
}

/* Returns the header of a chunk handed out by chunk_alloc. */
static Chunk *
chunk_of(void *p, const char *who)
{
	if (p == NULL)
		fuzz_fail("%s(NULL): the backend crashes", who);
	return ((Chunk *) p) - 1;
}

/* Takes a chunk off the list. */
static void
chunk_unlink(Chunk *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		chunks = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

/* Frees every chunk of the current input. */
void
fuzz_reset_memory(void)
{
	while (chunks)
	{
		Chunk	   *next = chunks->next;

		free(chunks);
		chunks = next;
	}
}

/* palloc: a chunk of the current input. */
void *
palloc(Size size)
{
	return chunk_alloc(size, false);
}

/* palloc0: a zeroed chunk of the current input. */
void *
palloc0(Size size)
{
	return chunk_alloc(size, true);
}

/* palloc_extended: flags as the backend's (zeroing; no-OOM is moot here). */
void *
palloc_extended(Size size, int flags)
{
	return chunk_alloc(size, (flags & MCXT_ALLOC_ZERO) != 0);
}

/* repalloc: resizes a chunk, keeping it on the list. */
void *
repalloc(void *pointer, Size size)
{
	Chunk	   *c = chunk_of(pointer, "repalloc");
	Chunk	   *n;

	if (!AllocSizeIsValid(size))
		fuzz_fail("repalloc(%zu): the backend raises \"invalid memory alloc request size\"", size);
	chunk_unlink(c);
	n = realloc(c, sizeof(Chunk) + size);
	if (n == NULL)
		fuzz_fail("out of memory reallocating %zu bytes", size);
	n->size = size;
	n->prev = NULL;
	n->next = chunks;
	if (chunks)
		chunks->prev = n;
	chunks = n;
	return n + 1;
}

/* pfree: frees one chunk now. */
void
pfree(void *pointer)
{
	Chunk	   *c = chunk_of(pointer, "pfree");

	chunk_unlink(c);
	free(c);
}

/* pstrdup: a copy of a string in the current input's memory. */
char *
pstrdup(const char *in)
{
	size_t		n;
	char	   *out;

	if (in == NULL)
		fuzz_fail("pstrdup(NULL): the backend crashes");
	n = strlen(in);
	out = chunk_alloc(n + 1, false);
	memcpy(out, in, n + 1);
	return out;
}

/* pnstrdup: a copy of at most size bytes of a string, NUL-terminated. */
char *
pnstrdup(const char *in, Size size)
{
	size_t		n = strnlen(in, size);
	char	   *out = chunk_alloc(n + 1, false);

	memcpy(out, in, n);
	out[n] = '\0';
	return out;
}

#ifdef palloc_array
/* The overflow-checked variants some PostgreSQL 15 minor releases have. */

/* palloc_mul: s1 * s2 bytes, refusing an overflow as the backend does. */
void *
palloc_mul(Size s1, Size s2)
{
	if (s2 != 0 && s1 > SIZE_MAX / s2)
		fuzz_fail("palloc_mul(%zu, %zu) overflows", s1, s2);
	return chunk_alloc(s1 * s2, false);
}

/* palloc0_mul: zeroed s1 * s2 bytes. */
void *
palloc0_mul(Size s1, Size s2)
{
	if (s2 != 0 && s1 > SIZE_MAX / s2)
		fuzz_fail("palloc0_mul(%zu, %zu) overflows", s1, s2);
	return chunk_alloc(s1 * s2, true);
}

/* palloc_mul_extended: s1 * s2 bytes with palloc_extended's flags. */
void *
palloc_mul_extended(Size s1, Size s2, int flags)
{
	if (s2 != 0 && s1 > SIZE_MAX / s2)
		fuzz_fail("palloc_mul_extended(%zu, %zu) overflows", s1, s2);
	return chunk_alloc(s1 * s2, (flags & MCXT_ALLOC_ZERO) != 0);
}

/* repalloc_mul: resizes a chunk to s1 * s2 bytes. */
void *
repalloc_mul(void *p, Size s1, Size s2)
{
	if (s2 != 0 && s1 > SIZE_MAX / s2)
		fuzz_fail("repalloc_mul(%zu, %zu) overflows", s1, s2);
	return repalloc(p, s1 * s2);
}
#endif

/* ------------------------------------------------------- parser depth -- */

extern JsonParseErrorType __real_pg_parse_json(JsonLexContext *lex, JsonSemAction *sem);
extern JsonParseErrorType __wrap_pg_parse_json(JsonLexContext *lex, JsonSemAction *sem);

/* Nesting reached by the parser over one input. */
typedef struct DepthState
{
	int			depth;
	int			max;
} DepthState;

/* Depth callback: an object or array begins. */
static void
depth_in(void *state)
{
	DepthState *d = state;

	if (++d->depth > d->max)
		d->max = d->depth;
}

/* Depth callback: an object or array ends. */
static void
depth_out(void *state)
{
	((DepthState *) state)->depth--;
}

/* Returns the nesting the parser reaches on input (before any syntax error). */
static int
parse_depth(const char *input, int len, int encoding, bool need_escapes)
{
	DepthState	d = {0, 0};
	JsonSemAction sem;
	JsonLexContext *lex;

	memset(&sem, 0, sizeof(sem));
	sem.semstate = &d;
	sem.object_start = depth_in;
	sem.object_end = depth_out;
	sem.array_start = depth_in;
	sem.array_end = depth_out;
	lex = makeJsonLexContextCstringLen((char *) input, len, encoding, need_escapes);
	(void) __real_pg_parse_json(lex, &sem);
	return d.max;
}

/*
 * Every call of pg_parse_json by momo comes here: it fails the input if the
 * backend's parser would raise on it for its depth, then parses.
 */
JsonParseErrorType
__wrap_pg_parse_json(JsonLexContext *lex, JsonSemAction *sem)
{
	int			depth = parse_depth(lex->input, lex->input_length,
									lex->input_encoding, lex->strval != NULL);

	if (depth > FUZZ_MAX_PARSE_DEPTH)
		fuzz_fail("momo handed the JSON parser a body nested %d levels deep; the backend's "
				  "parser raises \"stack depth limit exceeded\" on deep nesting (about 15000 "
				  "levels with max_stack_depth 2MB, 650 with 100kB), and momo's parsers must "
				  "not raise: refuse bodies nested deeper than a few levels before parsing",
				  depth);
	return __real_pg_parse_json(lex, sem);
}

/* -------------------------------------------------------- text checks -- */

/* Aborts unless s is a valid UTF-8 C string (NULL is allowed: SQL NULL). */
void
fuzz_check_text(const char *what, const char *s)
{
	size_t		n;

	if (s == NULL)
		return;
	n = strlen(s);
	if (pg_encoding_verifymbstr(PG_UTF8, s, (int) n) != (int) n)
		fuzz_fail("%s is not valid UTF-8; storing it would raise an error", what);
}

/* ------------------------------------------------- reference reading -- */

/* One member of an object: key, value, and the top-level member owning it. */
typedef struct RefMember
{
	const char *key;
	RefValue	value;
	int			parent;			/* -1: a top-level member; else index of its top-level member */
	int			object;			/* which object it is in: 0 top level, else parent index + 1 */
} RefMember;

typedef struct RefState
{
	int			depth;			/* objects open */
	int			array_depth;	/* arrays open */
	bool		top_is_object;
	bool		seen_top;
	const char *key1;			/* pending key at the top level */
	const char *key2;			/* pending key one level down */
	int			last_top;		/* index of the latest top-level member */
	int			nesting;		/* open arrays and objects */
	int			max_nesting;
	RefMember  *m;
	int			n;
	int			cap;
} RefState;

static RefState ref;

/* Counts one more level of nesting. */
static void
ref_nest(void)
{
	if (++ref.nesting > ref.max_nesting)
		ref.max_nesting = ref.nesting;
}

/* Appends a member (memory is the current input's). */
static void
ref_add(const char *key, RefKind kind, const char *text, int parent)
{
	if (ref.n == ref.cap)
	{
		int			cap = ref.cap ? ref.cap * 2 : 16;
		RefMember  *m = palloc(sizeof(RefMember) * cap);

		if (ref.n)
			memcpy(m, ref.m, sizeof(RefMember) * ref.n);
		ref.m = m;
		ref.cap = cap;
	}
	ref.m[ref.n].key = key;
	ref.m[ref.n].value.kind = kind;
	ref.m[ref.n].value.text = text;
	ref.m[ref.n].parent = parent;
	ref.m[ref.n].object = parent + 1;
	ref.n++;
}

/* Records a value at the current position if it is a member we keep. */
static void
ref_value(RefKind kind, const char *text)
{
	if (ref.array_depth > 0)
		return;
	if (ref.depth == 1 && ref.key1)
	{
		ref_add(ref.key1, kind, text, -1);
		ref.last_top = ref.n - 1;
	}
	else if (ref.depth == 2 && ref.key2 && ref.last_top >= 0)
		ref_add(ref.key2, kind, text, ref.last_top);
}

/* Reference callback: an object begins. */
static void
ref_object_start(void *state pg_attribute_unused())
{
	if (!ref.seen_top)
	{
		ref.seen_top = true;
		ref.top_is_object = true;
	}
	else
		ref_value(REF_OBJECT, NULL);
	ref.depth++;
	ref_nest();
}

/* Reference callback: an object ends. */
static void
ref_object_end(void *state pg_attribute_unused())
{
	ref.depth--;
	ref.nesting--;
}

/* Reference callback: an array begins. */
static void
ref_array_start(void *state pg_attribute_unused())
{
	ref.seen_top = true;
	ref_value(REF_ARRAY, NULL);
	ref.array_depth++;
	ref_nest();
}

/* Reference callback: an array ends. */
static void
ref_array_end(void *state pg_attribute_unused())
{
	ref.array_depth--;
	ref.nesting--;
}

/* Reference callback: a key. */
static void
ref_field_start(void *state pg_attribute_unused(), char *fname, bool isnull pg_attribute_unused())
{
	if (ref.array_depth > 0)
		return;
	if (ref.depth == 1)
		ref.key1 = fname;
	else if (ref.depth == 2)
		ref.key2 = fname;
}

/* Reference callback: a scalar. */
static void
ref_scalar(void *state pg_attribute_unused(), char *token, JsonTokenType type)
{
	RefKind		kind;

	ref.seen_top = true;
	switch (type)
	{
		case JSON_TOKEN_STRING:
			kind = REF_STRING;
			break;
		case JSON_TOKEN_NUMBER:
			kind = REF_NUMBER;
			break;
		case JSON_TOKEN_TRUE:
			kind = REF_TRUE;
			break;
		case JSON_TOKEN_FALSE:
			kind = REF_FALSE;
			break;
		default:
			kind = REF_NULL;
			break;
	}
	ref_value(kind, kind == REF_NULL ? NULL : token);
}

/* Reads body into the reference list; true if it is an acceptable JSON object. */
bool
ref_parse(const char *body, size_t len)
{
	JsonSemAction sem;
	JsonLexContext *lex;
	char	   *copy;

	memset(&ref, 0, sizeof(ref));
	ref.last_top = -1;
	if (body == NULL || len == 0 || len > INT_MAX / 2)
		return false;
	if (memchr(body, '\0', len) != NULL)
		return false;
	if (pg_encoding_verifymbstr(PG_UTF8, body, (int) len) != (int) len)
		return false;

	memset(&sem, 0, sizeof(sem));
	sem.object_start = ref_object_start;
	sem.object_end = ref_object_end;
	sem.array_start = ref_array_start;
	sem.array_end = ref_array_end;
	sem.object_field_start = ref_field_start;
	sem.scalar = ref_scalar;
	copy = pnstrdup(body, len);
	lex = makeJsonLexContextCstringLen(copy, (int) len, PG_UTF8, true);
	if (__real_pg_parse_json(lex, &sem) != JSON_SUCCESS)
	{
		ref.n = 0;
		return false;
	}
	return ref.top_is_object;
}

/* Splits "key.sub" at its first dot; *sub is NULL for a plain key. */
static void
split_path(const char *path, char *key, size_t keysize, const char **sub)
{
	const char *dot = strchr(path, '.');
	size_t		n = dot ? (size_t) (dot - path) : strlen(path);

	if (n >= keysize)
		n = keysize - 1;
	memcpy(key, path, n);
	key[n] = '\0';
	*sub = dot ? dot + 1 : NULL;
}

/* Returns the index of the last top-level member named key, or -1. */
static int
last_top(const char *key)
{
	for (int i = ref.n - 1; i >= 0; i--)
		if (ref.m[i].parent < 0 && strcmp(ref.m[i].key, key) == 0)
			return i;
	return -1;
}

/* The last value of path in the reference reading. */
RefValue
ref_get(const char *path)
{
	RefValue	absent = {REF_ABSENT, NULL};
	char		key[256];
	const char *sub;
	int			top;

	split_path(path, key, sizeof(key), &sub);
	top = last_top(key);
	if (top < 0)
		return absent;
	if (sub == NULL)
		return ref.m[top].value;
	if (ref.m[top].value.kind != REF_OBJECT)
		return absent;
	for (int i = ref.n - 1; i > top; i--)
		if (ref.m[i].parent == top && strcmp(ref.m[i].key, sub) == 0)
			return ref.m[i].value;
	return absent;
}

/* The most times path's last component occurs in one object. */
int
ref_occurrences(const char *path)
{
	char		key[256];
	const char *sub;
	int			best = 0;

	split_path(path, key, sizeof(key), &sub);
	if (sub == NULL)
	{
		for (int i = 0; i < ref.n; i++)
			if (ref.m[i].parent < 0 && strcmp(ref.m[i].key, key) == 0)
				best++;
		return best;
	}
	for (int t = 0; t < ref.n; t++)
	{
		int			count = 0;

		if (ref.m[t].parent >= 0 || strcmp(ref.m[t].key, key) != 0)
			continue;
		for (int i = t + 1; i < ref.n; i++)
			if (ref.m[i].parent == t && strcmp(ref.m[i].key, sub) == 0)
				count++;
		best = Max(best, count);
	}
	return best;
}

/* True if any path, or the parent of a nested path, is repeated in one object. */
bool
ref_repeats_any(const char *const *paths, int npaths)
{
	for (int i = 0; i < npaths; i++)
	{
		char		key[256];
		const char *sub;

		if (ref_occurrences(paths[i]) > 1)
			return true;
		split_path(paths[i], key, sizeof(key), &sub);
		if (sub && ref_occurrences(key) > 1)
			return true;
	}
	return false;
}

/* True if momo may refuse the body just read (repeated wanted key, or deep nesting). */
bool
ref_may_refuse(const char *const *paths, int npaths)
{
	return ref.max_nesting > FUZZ_MUST_READ_DEPTH || ref_repeats_any(paths, npaths);
}

/* True if v is a string equal to s. */
bool
ref_is_string(RefValue v, const char *s)
{
	return v.kind == REF_STRING && strcmp(v.text, s) == 0;
}

/* ------------------------------------------------------------- header -- */

/* HTTP statuses the header's index selects; -1: "other", from the second byte. */
static const long header_statuses[16] = {
	0, 200, 202, 400, 401, 404, 409, 429, 500, 503, -1, -1, -1, -1, -1, -1
};

/*
 * Takes the 2-byte header: byte 0 bit 0 the operation (0 create, 1 status),
 * bits 1-4 the status index, bit 5 the high bit of an "other" status, bit 6
 * "NULL body when empty"; byte 1 the low bits of an "other" status
 * (100 + 0..511).
 */
bool
fuzz_take_header(const uint8_t **data, size_t *size, FuzzHeader *h)
{
	uint8_t		b0,
				b1;

	if (*size < 2)
		return false;
	b0 = (*data)[0];
	b1 = (*data)[1];
	*data += 2;
	*size -= 2;
	h->op = (b0 & 1) ? MOMO_OP_STATUS : MOMO_OP_CREATE;
	h->status = header_statuses[(b0 >> 1) & 15];
	if (h->status < 0)
		h->status = 100 + b1 + ((b0 >> 5) & 1) * 256;
	h->null_body = (b0 & 0x40) != 0;
	return true;
}
