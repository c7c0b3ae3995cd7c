#include "util/json.h"

#include <stdint.h>
#include <string.h>

#include "util/hex.h"

int sb_json_append_string(sb_buf *out, const char *s, size_t len)
{
    int rv = sb_buf_putc(out, '"');
    for (size_t i = 0; i < len && rv == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            uint8_t e[2] = {'\\', c};
            rv = sb_buf_append(out, e, 2);
        } else if (c == '\n') {
            rv = sb_buf_append(out, "\\n", 2);
        } else if (c == '\t') {
            rv = sb_buf_append(out, "\\t", 2);
        } else if (c == '\r') {
            rv = sb_buf_append(out, "\\r", 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[7] = "\\u00";
            sb_hex_encode(e + 4, &c, 1);
            rv = sb_buf_append(out, e, 6);
        } else {
            rv = sb_buf_putc(out, c);
        }
    }
    return rv ? rv : sb_buf_putc(out, '"');
}

int sb_json_append_cstr(sb_buf *out, const char *s)
{
    return s ? sb_json_append_string(out, s, strlen(s)) : sb_buf_append(out, "null", 4);
}
