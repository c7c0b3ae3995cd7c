/*
 * CQL values as text: cqlsh-style rendering, JSON, constructors and
 * literal parsing. (Being written; stubs keep the program linking.)
 */
#include "storage/types.h"
#include "util/err.h"

int sb_value_format(sb_buf *out, sb_type t, sb_value v)
{
    return SB_EUNSUPPORTED;
}
int sb_value_to_json(sb_buf *out, sb_type t, sb_value v)
{
    return SB_EUNSUPPORTED;
}
int sb_value_put_int(sb_buf *out, sb_type_id id, int64_t v)
{
    return SB_EUNSUPPORTED;
}
int sb_value_put_double(sb_buf *out, sb_type_id id, double v)
{
    return SB_EUNSUPPORTED;
}
int sb_value_put_bool(sb_buf *out, int v)
{
    return SB_EUNSUPPORTED;
}
int sb_value_from_literal(sb_buf *out, sb_type t, int kind, const char *text, size_t len,
                          char *errmsg)
{
    return sb_seterr(errmsg, SB_EUNSUPPORTED, "not yet implemented");
}
