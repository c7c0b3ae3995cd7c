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
 * "frozen<list<int>>", ... (case-insensitive, any whitespace between
 * tokens). Collection elements must be scalars; frozen<> applies to
 * collections only. Returns 0 or SB_EINVAL. */
int sb_type_parse(const char *s, sb_type *out);
/* Writes the canonical CQL name ("map<text, float>") into buf (>= 64 bytes). */
const char *sb_type_name(sb_type t, char *buf, size_t size);
/* Name for an id ("int"; "list", "set", "map" for collection ids); NULL
 * if not a valid id. */
const char *sb_type_id_name(uint8_t id);

/* Checks that bytes are a valid serialization of t (length of fixed-size
 * types, UTF-8 for text, ASCII for ascii, collection framing). 0 or
 * SB_EINVAL with a reason in errmsg. */
int sb_value_validate(sb_type t, const uint8_t *p, size_t len, char *errmsg);

/* Total order of values of type t, as Cassandra compares them (signed
 * integers, IEEE floats with -0.0 < 0.0 and NaN last, date as unsigned,
 * byte order for text/ascii/blob/inet, boolean false < true,
 * decimal/varint numerically, timeuuid as TimeUUIDType (timestamp, then
 * the last 8 bytes as signed bytes), uuid as UUIDType (version, then for
 * version 1 the timestamp, else the first 8 bytes unsigned, then the last 8
 * bytes unsigned), collections element-wise in serialized order (map: key
 * then value), a shorter prefix first). Null sorts first, then empty
 * (len 0) values. Invalid values still compare (bytewise), never crash. */
int sb_value_cmp(sb_type t, sb_value a, sb_value b);

/* Order-preserving, prefix-free encoding of one key component: comparing
 * the encodings with memcmp gives sb_value_cmp's order (reversed when
 * desc), also for concatenations of components. Used for partition and
 * clustering keys in storage keys. Null and empty values are encodable.
 * Values that compare equal encode equally (1.5 and 1.50, varints with
 * redundant sign bytes, boolean 0x01 and 0x02). SB_EINVAL for an invalid
 * value (out is then unchanged), SB_ENOMEM. */
int sb_keyenc_append(sb_buf *out, sb_type t, sb_value v, int desc);
/* Decodes one component at *p (advancing *p), appending the value's
 * serialization to `out` and returning its offset and length through v_off
 * and v_len (-1 for null, nothing appended). The serialization is the
 * canonical one of the encoded value (see above), which compares equal to
 * what was encoded. SB_ECORRUPT on malformed input (*p and out unchanged). */
int sb_keyenc_decode(sb_type t, int desc, const uint8_t **p, const uint8_t *end, sb_buf *out,
                     size_t *v_off, int32_t *v_len);

/* Appends the rendering cqlsh shows in a result table: "42", "21.5",
 * text unquoted (backslash doubled, control characters escaped as \n, \t,
 * \xNN), "True"/"False", "2026-11-21 15:04:05.123000+0000", "2026-11-21",
 * "15:04:05.123456789", lower-case uuids, "0xcafe", "[1, 2]", "{'a', 'b'}",
 * "{'k': 1.5}" (strings quoted inside collections), "null" for null and
 * "" for an empty non-text value. Floats use the fewest digits that read
 * back exactly. SB_EINVAL for an invalid value (out unchanged). */
int sb_value_format(sb_buf *out, sb_type t, sb_value v);
/* Appends a CQL literal that sb_value_from_literal (or the CQL parser, for
 * collections) reads back as the same value: "'it''s'", "true",
 * "'2026-11-21 15:04:05.123+0000'", "'2026-11-21'", "0xcafe",
 * "{'a': 1}". Used for DESCRIBE and DEFAULT values. */
int sb_value_format_cql(sb_buf *out, sb_type t, sb_value v);
/* Appends a JSON rendering: numbers as JSON numbers (all integer types,
 * varint and decimal are written exactly, decimals as BigDecimal.toString
 * e.g. 1.5 or 1.2E+7), NaN/Infinity as the strings "NaN", "Infinity",
 * "-Infinity", text as strings, blob as "0x..", timestamp as
 * "2026-11-21T15:04:05.123Z", date "2026-11-21", time
 * "15:04:05.123456789", uuid and inet as strings, boolean true/false,
 * lists and sets as arrays, maps as objects (keys rendered as strings:
 * {"1": "a"}), null and empty non-text values as null. */
int sb_value_to_json(sb_buf *out, sb_type t, sb_value v);

/* Constructors used by edges (literals, line protocol). They append the
 * serialization to out; SB_EINVAL when the type does not take the value
 * (out of range, or a type the constructor does not make). */
/* tinyint, smallint, int, bigint, varint, decimal (scale 0), timestamp
 * (ms since epoch), date (days since epoch), time (ns since midnight) */
int sb_value_put_int(sb_buf *out, sb_type_id id, int64_t v);
int sb_value_put_double(sb_buf *out, sb_type_id id, double v); /* float or double */
int sb_value_put_bool(sb_buf *out, int v);

/* Parses the text of a literal into type t's serialization:
 * kind is SB_LIT_* (what the literal looked like in the statement). Used
 * for CQL literals and DEFAULT values. Follows Cassandra's assignment
 * rules: INTEGER fits tinyint..bigint, varint, decimal, float, double,
 * timestamp (ms since epoch), date (raw unsigned day, epoch 2^31) and time
 * (ns since midnight); FLOAT fits float, double, decimal; STRING fits
 * text, ascii, timestamp ('2026-11-21', '2026-11-21 15:04:05',
 * '2026-11-21T15:04:05.123Z', '... +0100'; UTC when no zone is given;
 * digits alone are ms), date ('2026-11-21'), time ('15:04:05.123456789'),
 * inet, uuid and timeuuid; BOOL fits boolean; UUID fits uuid and timeuuid
 * (which must be version 1); HEX ("0x..") fits blob. Collections are not
 * literals of one kind: build them with sb_value_build_collection.
 * Returns 0 or SB_EINVALID with errmsg naming the problem, e.g. "value
 * 3000000000 out of range for int" or "invalid STRING constant ('abc')
 * for type int"; out is unchanged on error. */
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
/* "STRING", "INTEGER", ... as Cassandra names a literal's kind in errors;
 * "unknown" for another value (a static string). */
const char *sb_lit_kind_name(int kind);

/* Builds the serialization of a collection of type t from its elements
 * (for maps: key, value, key, value, ...; n counts sb_values). Sets and
 * maps come out sorted by sb_value_cmp and without duplicates (for a map,
 * the last value given for a key wins), as Cassandra stores them; lists
 * keep their order. Elements must be valid for their type and not null:
 * SB_EINVALID with errmsg otherwise. */
int sb_value_build_collection(sb_buf *out, sb_type t, const sb_value *elems, int n, char *errmsg);

/* Murmur3Partitioner token of a partition key given as its serialized
 * components (see murmur3.h): one component is hashed as is; several are
 * packed as CompositeType does (per component: 2-byte big-endian length,
 * the bytes, a 0x00 byte). A null component counts as empty. */
int64_t sb_token_of_key(sb_value *components, int n);

#endif
