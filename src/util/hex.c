#include "util/hex.h"

static const char digits[] = "0123456789abcdef";

int sb_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void sb_hex_encode(char *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}

int sb_hex_append(sb_buf *out, const uint8_t *p, size_t n)
{
    /* one spare byte for the encoder's NUL, which len does not count */
    int rv = sb_buf_reserve(out, 2 * n + 1);
    if (rv)
        return rv;
    sb_hex_encode((char *)out->data + out->len, p, n);
    out->len += 2 * n;
    return 0;
}

size_t sb_hex_invalid(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (sb_hex_digit((unsigned char)s[i]) < 0)
            return i;
    return n;
}

int sb_hex_decode(uint8_t *out, const char *s, size_t n)
{
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int hi = sb_hex_digit((unsigned char)s[i]), lo = sb_hex_digit((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

void sb_uuid_format(const uint8_t u[16], char out[SB_UUID_STRLEN])
{
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = digits[u[i] >> 4];
        out[o++] = digits[u[i] & 15];
    }
    out[o] = 0;
}

int sb_uuid_append(sb_buf *out, const uint8_t u[16])
{
    char text[SB_UUID_STRLEN];
    sb_uuid_format(u, text);
    return sb_buf_append(out, text, SB_UUID_STRLEN - 1);
}

int sb_uuid_parse(const char *s, size_t n, uint8_t u[16])
{
    int k = 0; /* digits read */
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '-')
            continue;
        int v = sb_hex_digit((unsigned char)s[i]);
        if (v < 0 || k == 32)
            return -1;
        if (k % 2 == 0)
            u[k / 2] = (uint8_t)(v << 4);
        else
            u[k / 2] |= (uint8_t)v;
        k++;
    }
    return k == 32 ? 0 : -1;
}
