// quic/ngtcp2_additions.h — functions qsse adds to ngtcp2 (tools/ngtcp2-additions.c, appended
// to lib/ngtcp2_conn.c by tools/bootstrap, where they can read the connection's state).
#pragma once

#include <ngtcp2/ngtcp2.h>

extern "C" {
// Nonzero unless ngtcp2_conn_writev_stream at `ts` with no stream data would write nothing.
// Conservative: nonzero in every state but a handshake-confirmed connection in steady state.
int qsse_ngtcp2_conn_has_pending_tx(ngtcp2_conn* conn, ngtcp2_tstamp ts);
// What that empty write does to the connection (it marks the rate application-limited for
// the congestion controller). Only after qsse_ngtcp2_conn_has_pending_tx returned 0, at the same
// ts.
void qsse_ngtcp2_conn_skip_write(ngtcp2_conn* conn, ngtcp2_tstamp ts);
}
