/* libFuzzer target for the CQL parser: any bytes must parse or fail with a
 * positioned SB_ESYNTAX, never crash or leak. Also drives the script
 * splitter on the same input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cql/parse.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[SB_ERRMSG_SIZE];
    sb_cql_stmt *s = NULL;
    int rc = sb_cql_parse((const char *)data, size, &s, err);
    if (rc == 0) {
        if (!s)
            abort();
        sb_cql_stmt_free(s);
    } else if (s || (rc == SB_ESYNTAX && strncmp(err, "line ", 5) != 0)) {
        abort();
    }

    sb_cql_stmt **v = NULL;
    int n = 0;
    if (sb_cql_parse_multi((const char *)data, size, &v, &n, err) == 0) {
        for (int i = 0; i < n; i++)
            sb_cql_stmt_free(v[i]);
        free(v);
    }
    size_t len;
    sb_cql_split((const char *)data, size, &len);
    if (len > size)
        abort();
    (void)sb_cql_is_blank((const char *)data, size);
    return 0;
}
