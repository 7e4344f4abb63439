/*
 * util.h - small helpers for momo-sandbox: clocks, randomness, UUID checks,
 * base64 and case folding.
 */
#ifndef MOMO_SANDBOX_UTIL_H
#define MOMO_SANDBOX_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds on the monotonic clock. */
int64_t now_ms(void);
/* Fill buf with n bytes from the kernel's CSPRNG; 0 on success. */
int rnd_bytes(void *buf, size_t n);
/* Fast per-thread pseudo-random number (seeded from the CSPRNG). */
uint32_t rnd_u32(void);
/* Write n lowercase hex characters of randomness plus a NUL into out; 0 on success. */
int rnd_hex(char *out, size_t n);
/* 1 if s is a canonical UUID (8-4-4-4-12 hex, any case). */
int is_uuid(const char *s);
/* 1 if s is a UUID version 4 with the RFC 4122 variant (any case). */
int is_uuid4(const char *s);
/* Copy s (at most n-1 bytes) to out as lowercase ASCII. */
void lower_copy(char *out, const char *s, size_t n);
/* ASCII case-insensitive comparison of NUL-terminated strings; 1 if equal. */
int ieq(const char *a, const char *b);
/* Decode base64 (standard alphabet, padding required when length % 4 != 0);
   returns decoded length or -1; out must hold at least inlen/4*3+3 bytes. */
long b64_decode(const char *in, size_t inlen, unsigned char *out);
/* Encode n bytes as unpadded base64url into out (room for 4*n/3+4); returns length. */
size_t b64url_encode(const unsigned char *in, size_t n, char *out);

/* Parse a non-negative amount (1-15 digits, optionally '.' and 1-2 decimals) into cents; 0 ok. */
int parse_cents(const char *s, int64_t *out);
/* Format cents as MTN writes amounts: 100000000 -> "1000000", 1250 -> "12.50". */
void format_cents(char *out, size_t n, int64_t c);

#endif
