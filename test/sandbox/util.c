/*
 * util.c - small helpers for momo-sandbox: clocks, randomness, UUID checks,
 * base64 and case folding.
 */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

int64_t now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rnd_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static __thread uint64_t prng_state;

uint32_t rnd_u32(void)
{
    if (prng_state == 0) {
        if (rnd_bytes(&prng_state, sizeof(prng_state)) != 0 || prng_state == 0)
            prng_state = (uint64_t)now_ms() * 0x9E3779B97F4A7C15ULL | 1;
    }
    /* xorshift64* */
    uint64_t x = prng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    prng_state = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

int rnd_hex(char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[64];
    size_t done = 0;
    while (done < n) {
        size_t chunk = (n - done + 1) / 2;
        if (chunk > sizeof(buf))
            chunk = sizeof(buf);
        if (rnd_bytes(buf, chunk) != 0)
            return -1;
        for (size_t i = 0; i < chunk && done < n; i++) {
            out[done++] = hex[buf[i] >> 4];
            if (done < n)
                out[done++] = hex[buf[i] & 15];
        }
    }
    out[n] = 0;
    return 0;
}

/* 1 if c is a hex digit. */
static int ishex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int is_uuid(const char *s)
{
    if (!s)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!ishex(s[i])) {
            return 0;
        }
    }
    return s[36] == 0;
}

int is_uuid4(const char *s)
{
    if (!is_uuid(s))
        return 0;
    if (s[14] != '4')
        return 0;
    char v = s[19];
    return v == '8' || v == '9' || v == 'a' || v == 'b' || v == 'A' || v == 'B';
}

void lower_copy(char *out, const char *s, size_t n)
{
    size_t i = 0;
    if (n == 0)
        return;
    for (; s[i] && i + 1 < n; i++) {
        char c = s[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[i] = 0;
}

int ieq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

/* Value of one base64 character, or -1. */
static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long b64_decode(const char *in, size_t inlen, unsigned char *out)
{
    if (inlen % 4 != 0)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < inlen; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + (size_t)k];
            if (c == '=' && i + 4 == inlen && k >= 2) {
                v[k] = 0;
                pad++;
            } else {
                if (pad)
                    return -1;      /* data after padding */
                v[k] = b64val(c);
                if (v[k] < 0)
                    return -1;
            }
        }
        uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) | (uint32_t)v[3];
        out[o++] = (unsigned char)(w >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(w >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)w;
    }
    return (long)o;
}

size_t b64url_encode(const unsigned char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t w = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = a[(w >> 18) & 63];
        out[o++] = a[(w >> 12) & 63];
        out[o++] = a[(w >> 6) & 63];
        out[o++] = a[w & 63];
    }
    if (n - i == 1) {
        uint32_t w = (uint32_t)in[i] << 16;
        out[o++] = a[(w >> 18) & 63];
        out[o++] = a[(w >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t w = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        out[o++] = a[(w >> 18) & 63];
        out[o++] = a[(w >> 12) & 63];
        out[o++] = a[(w >> 6) & 63];
    }
    out[o] = 0;
    return o;
}

int parse_cents(const char *s, int64_t *out)
{
    int64_t v = 0;
    int digits = 0, frac = -1;
    if (!s || !*s)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p == '.' && frac < 0 && digits > 0) {
            frac = 0;
            continue;
        }
        if (*p < '0' || *p > '9')
            return -1;
        if (frac >= 0 && ++frac > 2)
            return -1;
        if (frac < 0 && ++digits > 15)
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (digits == 0 || frac == 0)
        return -1;
    *out = frac < 0 ? v * 100 : frac == 1 ? v * 10 : v;
    return 0;
}

void format_cents(char *out, size_t n, int64_t c)
{
    if (c % 100 == 0)
        snprintf(out, n, "%lld", (long long)(c / 100));
    else
        snprintf(out, n, "%lld.%02lld", (long long)(c / 100), (long long)(c % 100));
}
