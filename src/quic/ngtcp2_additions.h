// quic/ngtcp2_additions.h — functions qsse adds to ngtcp2 (tools/ngtcp2-additions.c, appended
// to lib/ngtcp2_conn.c by tools/bootstrap, where they can read the connection's state).
#pragma once

#include <ngtcp2/ngtcp2.h>

#include <vector>

extern "C" {
// Nonzero unless ngtcp2_conn_writev_stream at `ts` with no stream data would write nothing.
// Conservative: nonzero in every state but a handshake-confirmed connection in steady state.
int qsse_ngtcp2_conn_has_pending_tx(ngtcp2_conn* conn, ngtcp2_tstamp ts);
// What that empty write does to the connection (it marks the rate application-limited for
// the congestion controller). Only after qsse_ngtcp2_conn_has_pending_tx returned 0, at the same
// ts.
void qsse_ngtcp2_conn_skip_write(ngtcp2_conn* conn, ngtcp2_tstamp ts);
}

namespace qsse::quic {

// The call a skipped write stands for, made anyway: ngtcp2_conn_writev_stream with no stream
// data, into a scratch buffer of the calling thread. Returns what that returns (bytes written,
// or an ngtcp2 error). For checks of qsse_ngtcp2_conn_has_pending_tx only (tests,
// -Dverify_skipped_writes): anything written is thrown away.
inline ngtcp2_ssize write_without_stream_data(ngtcp2_conn* conn, ngtcp2_tstamp ts) {
  thread_local std::vector<uint8_t> scratch;
  scratch.resize(ngtcp2_conn_get_max_tx_udp_payload_size(conn));
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi{};
  return ngtcp2_conn_writev_stream(conn, &ps.path, &pi, scratch.data(), scratch.size(), nullptr, 0,
                                   -1, nullptr, 0, ts);
}

}  // namespace qsse::quic
