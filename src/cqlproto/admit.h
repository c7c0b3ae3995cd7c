/*
 * Connection admission for the CQL server, decided without I/O: how many
 * connections are open in total and from each client address, and whether
 * one more may open (native_transport_max_concurrent_connections and
 * ..._per_ip, docs/cql-protocol.md). Internal to cqlproto.
 *
 * Addresses are counted by IP alone (the port is ignored); an address is
 * forgotten when its last connection is released, so the table holds at
 * most one slot per open connection.
 */
#ifndef SB_CQLPROTO_ADMIT_H
#define SB_CQLPROTO_ADMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* One client address and its open connections; count 0 = empty slot. */
typedef struct cqlp_addr_slot {
    uint8_t key[17]; /* family (4 or 6), then the address bytes */
    int count;
} cqlp_addr_slot;

typedef struct cqlp_admit {
    int max_total;  /* < 0: no limit */
    int max_per_ip; /* < 0: no limit */
    int total;      /* connections admitted and not released */
    cqlp_addr_slot *slots;
    size_t cap;  /* power of two, 0 before the first admission */
    size_t used; /* slots with count > 0 */
} cqlp_admit;

/* Outcomes of cqlp_admit_open. */
enum {
    CQLP_ADMIT_OK = 0,
    CQLP_ADMIT_TOTAL,  /* max_total connections already open */
    CQLP_ADMIT_PER_IP, /* max_per_ip connections from this address open */
    CQLP_ADMIT_NOMEM,  /* the address table could not grow */
};

void cqlp_admit_init(cqlp_admit *a, int max_total, int max_per_ip);
void cqlp_admit_close(cqlp_admit *a);
/* Decides on one more connection from addr (AF_INET or AF_INET6; other
 * families are counted under one shared key). On CQLP_ADMIT_OK the
 * connection is counted and must later be given to cqlp_admit_release
 * exactly once; on any other outcome nothing changed. */
int cqlp_admit_open(cqlp_admit *a, const struct sockaddr *addr);
/* Forgets one connection admitted from addr. */
void cqlp_admit_release(cqlp_admit *a, const struct sockaddr *addr);
/* Connections currently admitted from addr's IP. */
int cqlp_admit_count(const cqlp_admit *a, const struct sockaddr *addr);

#endif
