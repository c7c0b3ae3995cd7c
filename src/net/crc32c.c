/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as in the
 * transport's frame header and in iSCSI/ext4/RocksDB.
 *
 * Two implementations compute the same function: slice-by-8 tables in
 * software (any CPU), and the SSE4.2 crc32 instruction on x86-64 when the
 * CPU has it. The tables are built once, on first use (pthread_once), so
 * the function is safe to call from any thread.
 *
 * Chaining: sb_crc32c(sb_crc32c(0, a, n), b, m) == CRC of a followed by b.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "net/transport.h"

#define POLY 0x82F63B78u

static uint32_t tab[8][256];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static void tab_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (POLY & (0u - (c & 1)));
        tab[0][i] = c;
    }
    for (int s = 1; s < 8; s++)
        for (int i = 0; i < 256; i++)
            tab[s][i] = (tab[s - 1][i] >> 8) ^ tab[0][tab[s - 1][i] & 0xFF];
}

static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
    while (n && ((uintptr_t)p & 7)) {
        c = (c >> 8) ^ tab[0][(c ^ *p++) & 0xFF];
        n--;
    }
    while (n >= 8) {
        /* Little-endian load assembled byte by byte: portable, and the
         * compiler turns it into one load where it can. */
        uint32_t lo =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        uint32_t hi =
            (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        lo ^= c;
        c = tab[7][lo & 0xFF] ^ tab[6][(lo >> 8) & 0xFF] ^ tab[5][(lo >> 16) & 0xFF] ^
            tab[4][lo >> 24] ^ tab[3][hi & 0xFF] ^ tab[2][(hi >> 8) & 0xFF] ^
            tab[1][(hi >> 16) & 0xFF] ^ tab[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = (c >> 8) ^ tab[0][(c ^ *p++) & 0xFF];
    return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_HW 1
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const uint8_t *p, size_t n)
{
    uint64_t c64 = c;
    while (n && ((uintptr_t)p & 7)) {
        c64 = __builtin_ia32_crc32qi((uint32_t)c64, *p++);
        n--;
    }
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c64;
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}

static int use_hw;
static void init(void)
{
    tab_build();
    __builtin_cpu_init();
    use_hw = __builtin_cpu_supports("sse4.2");
}
#else
#define HAVE_HW 0
static void init(void)
{
    tab_build();
}
#endif

uint32_t sb_crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&tab_once, init);
    uint32_t c = ~crc;
#if HAVE_HW
    if (use_hw)
        return ~crc_hw(c, p, n);
#endif
    return ~crc_sw(c, p, n);
}

/* The software path, for tests that compare both implementations. */
uint32_t net_crc32c_sw(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&tab_once, init);
    return ~crc_sw(~crc, p, n);
}
