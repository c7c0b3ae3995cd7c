/* Temporary: statement kinds not implemented yet (replaced within the hour). */
#include "cql/exec_int.h"

int cql_exec_use(cql_ctx *c, const sb_cql_stmt *st)
{
    return cql_err(c, SB_EUNSUPPORTED, &st->pos, "not implemented yet");
}
int cql_exec_ddl(cql_ctx *c, const sb_cql_stmt *st)
{
    return cql_err(c, SB_EUNSUPPORTED, &st->pos, "not implemented yet");
}
int cql_exec_write(cql_ctx *c, const sb_cql_stmt *st, sb_wbatch *b)
{
    return cql_err(c, SB_EUNSUPPORTED, &st->pos, "not implemented yet");
}
int cql_exec_select(cql_ctx *c, const sb_cql_stmt *st)
{
    return cql_err(c, SB_EUNSUPPORTED, &st->pos, "not implemented yet");
}
