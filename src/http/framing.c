/* Framing fields of a raw request head (framing.h). */
#include "http/framing.h"

#include <string.h>
#include <strings.h>

int sb_http_framing_fields(const char *buf, size_t n, int *cl, int *te)
{
    *cl = *te = 0;
    const char *line = memchr(buf, '\n', n); /* past the request line */
    while (line && (size_t)(++line - buf) < n) {
        const char *end = memchr(line, '\n', n - (size_t)(line - buf));
        if (!end)
            break;
        size_t len = (size_t)(end - line) - (end > line && end[-1] == '\r');
        if (len == 0)
            return 0; /* the blank line ending the head */
        if (len >= 15 && strncasecmp(line, "content-length:", 15) == 0)
            (*cl)++;
        else if (len >= 18 && strncasecmp(line, "transfer-encoding:", 18) == 0)
            (*te)++;
        line = end;
    }
    return -1;
}
