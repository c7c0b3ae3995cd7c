/*
 * CQL types and values.
 *
 * A value is always held in its CQL native-protocol serialization (the
 * "[bytes]" body of protocol v4 section 6: bigint = 8 bytes big-endian,
 * text = UTF-8, list = [int n] then n * ([int len][bytes]), ...). Storage,
 * the CQL executor, the HTTP API and the native protocol all pass these
 * bytes around unchanged; only edges convert (literals, JSON, key encoding).
 *
 * A NULL value is {NULL, -1}. An empty value (len 0) is distinct from NULL,
 * as in Cassandra.
 */
#ifndef SB_TYPES_H
#define SB_TYPES_H

#include <stdint.h>
#include <stddef.h>

#include "util/buf.h"

/* Type ids are the native protocol's option ids, so the protocol layer can
 * emit them directly. */
typedef enum sb_type_id {
    SB_TYPE_ASCII = 0x01,
    SB_TYPE_BIGINT = 0x02,
    SB_TYPE_BLOB = 0x03,
    SB_TYPE_BOOLEAN = 0x04,
    SB_TYPE_DECIMAL = 0x06,
    SB_TYPE_DOUBLE = 0x07,
    SB_TYPE_FLOAT = 0x08,
    SB_TYPE_INT = 0x09,
    SB_TYPE_TIMESTAMP = 0x0B,
    SB_TYPE_UUID = 0x0C,
    SB_TYPE_TEXT = 0x0D, /* varchar */
    SB_TYPE_VARINT = 0x0E,
    SB_TYPE_TIMEUUID = 0x0F,
    SB_TYPE_INET = 0x10,
    SB_TYPE_DATE = 0x11,
    SB_TYPE_TIME = 0x12,
    SB_TYPE_SMALLINT = 0x13,
    SB_TYPE_TINYINT = 0x14,
    SB_TYPE_LIST = 0x20,
    SB_TYPE_MAP = 0x21,
    SB_TYPE_SET = 0x22,
} sb_type_id;

/* list<a>, set<a>, map<a, b>; a and b are scalar type ids. Collections are
 * non-frozen unless `frozen` is set (frozen ones are one opaque cell). */
typedef struct sb_type {
    uint8_t id;
    uint8_t a;
    uint8_t b;
    uint8_t frozen;
} sb_type;

typedef struct sb_value {
    const uint8_t *p;
    int32_t len; /* -1 = null */
} sb_value;

#define SB_VALUE_NULL ((sb_value){NULL, -1})

static inline int sb_type_is_collection(sb_type t)
{
    return t.id == SB_TYPE_LIST || t.id == SB_TYPE_MAP || t.id == SB_TYPE_SET;
}

/* Parses a CQL type name: "int", "TEXT", "varchar", "map<text, float>",
 * "frozen<list<int>>", ... Returns 0 or SB_EINVAL. */
int sb_type_parse(const char *s, sb_type *out);
/* Writes the canonical CQL name ("map<text, float>") into buf (>= 64 bytes). */
const char *sb_type_name(sb_type t, char *buf, size_t size);
/* Scalar name for an id ("int"); NULL if not a valid id. */
const char *sb_type_id_name(uint8_t id);

/* Checks that bytes are a valid serialization of t (length of fixed-size
 * types, UTF-8 for text, ASCII for ascii, collection framing). 0 or
 * SB_EINVAL with a reason in errmsg. */
int sb_value_validate(sb_type t, const uint8_t *p, size_t len, char *errmsg);

/* Total order of values of type t, as Cassandra compares them (signed
 * integers, IEEE floats with NaN last, byte order for text/blob/inet,
 * timeuuid by time then bytes, decimal/varint numerically). Null sorts
 * first. */
int sb_value_cmp(sb_type t, sb_value a, sb_value b);

/* Order-preserving, prefix-free encoding of one key component: comparing
 * the encodings with memcmp gives sb_value_cmp's order (reversed when
 * desc). Used for partition and clustering keys in storage keys. */
int sb_keyenc_append(sb_buf *out, sb_type t, sb_value v, int desc);
/* Decodes one component at *p (advancing *p), appending the value's
 * serialization to `out` and returning its offset and length through v_off
 * and v_len. SB_ECORRUPT on malformed input. */
int sb_keyenc_decode(sb_type t, int desc, const uint8_t **p, const uint8_t *end, sb_buf *out,
                     size_t *v_off, int32_t *v_len);

/* Appends a human/CQL literal rendering ("42", "'it''s'", "{1, 2}",
 * "2026-11-21 15:04:05.123000+0000") as cqlsh prints it. */
int sb_value_format(sb_buf *out, sb_type t, sb_value v);
/* Appends a JSON rendering: numbers as JSON numbers (bigint/varint/decimal
 * as numbers when exact, else strings), text as strings, blob as "0x..",
 * timestamp as ISO-8601 string, uuid as string, collections as arrays or
 * objects (map keys rendered as strings), null as null. */
int sb_value_to_json(sb_buf *out, sb_type t, sb_value v);

/* Constructors used by edges (literals, line protocol). They append the
 * serialization to out. */
int sb_value_put_int(sb_buf *out, sb_type_id id, int64_t v); /* tinyint..bigint, timestamp, date(days since epoch), time */
int sb_value_put_double(sb_buf *out, sb_type_id id, double v); /* float or double */
int sb_value_put_bool(sb_buf *out, int v);

/* Parses the text of a literal into type t's serialization:
 * kind is SB_LIT_* (what the literal looked like in the statement). Used
 * for CQL literals and DEFAULT values. Errors name the problem in errmsg. */
enum {
    SB_LIT_STRING,  /* 'quoted' (quotes removed, '' unescaped) */
    SB_LIT_INTEGER, /* 123, -5 */
    SB_LIT_FLOAT,   /* 1.5, -2e3, NaN, Infinity */
    SB_LIT_BOOL,    /* true/false */
    SB_LIT_UUID,    /* 123e4567-e89b-12d3-a456-426614174000 */
    SB_LIT_HEX,     /* 0xCAFE */
};
int sb_value_from_literal(sb_buf *out, sb_type t, int kind, const char *text, size_t len,
                          char *errmsg);

/* Murmur3Partitioner token of a serialized partition key (see murmur3.h). */
int64_t sb_token_of_key(sb_value *components, int n);

#endif
