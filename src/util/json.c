#include "util/json.h"

#include <stdint.h>

int sb_json_append_string(sb_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int rv = sb_buf_putc(out, '"');
    for (size_t i = 0; i < len && rv == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            uint8_t e[2] = {'\\', c};
            rv = sb_buf_append(out, e, 2);
        } else if (c < 0x20) {
            uint8_t e[6] = {'\\', 'u', '0', '0', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15]};
            rv = sb_buf_append(out, e, 6);
        } else {
            rv = sb_buf_putc(out, c);
        }
    }
    return rv ? rv : sb_buf_putc(out, '"');
}
