
/* qsse additions, appended to lib/ngtcp2_conn.c by tools/bootstrap (declared for qsse in
 * src/quic/ngtcp2_additions.h). They read ngtcp2's internals as of 1.11.0: another version
 * needs them checked against its write path again, hence the guard.
 *
 * After every read, and after the packet that carries a lone event, a shard asks ngtcp2 to
 * write whatever it has. Mostly it has nothing (a subscriber acknowledges every 16th packet),
 * yet each such call builds and discards a packet header: about 1,000 instructions. These
 * two functions let the caller skip that call when it would write nothing. */

#if NGTCP2_VERSION_NUM != 0x010b00
#  error "tools/ngtcp2-additions.c was written against ngtcp2 1.11.0: check it against this version"
#endif

/*
 * qsse_ngtcp2_conn_has_pending_tx returns nonzero unless a call to
 * ngtcp2_conn_writev_stream at |ts| with no stream data (stream_id -1) would write
 * nothing: it is conservative, and returns nonzero for every state other than a
 * handshake-confirmed connection in steady state.
 */
int qsse_ngtcp2_conn_has_pending_tx(ngtcp2_conn *conn, ngtcp2_tstamp ts) {
  ngtcp2_pktns *pktns = &conn->pktns;
  ngtcp2_acktr *acktr = &pktns->acktr;

  /* Anything but the 1-RTT steady state: the handshake and its remnants, closing, a packet
     left open by NGTCP2_WRITE_STREAM_FLAG_MORE, exhausted packet numbers, and a server on a
     path not yet validated (whose write may cancel the loss-detection timer). */
  if (conn->state != NGTCP2_CS_POST_HANDSHAKE ||
      (conn->flags & NGTCP2_CONN_FLAG_PPE_PENDING) ||
      !(conn->flags & NGTCP2_CONN_FLAG_HANDSHAKE_CONFIRMED) ||
      !(conn->flags & NGTCP2_CONN_FLAG_HANDSHAKE_COMPLETED) ||
      !conn_is_tls_handshake_completed(conn) || conn->in_pktns || conn->hs_pktns ||
      !conn->remote.transport_params || conn_check_pkt_num_exhausted(conn) ||
      (conn->server && !(conn->dcid.current.flags & NGTCP2_DCID_FLAG_PATH_VALIDATED))) {
    return 1;
  }
  /* A pacing timer that is due: the write clears it (conn_pacing_pkt_tx_allowed). */
  if (conn->tx.pacing.next_ts != UINT64_MAX && conn->tx.pacing.next_ts <= ts) {
    return 1;
  }
  /* Key update: the AEAD limit, or the next keys still to be prepared
     (conn_prepare_key_update). */
  if (pktns->crypto.tx.ckm->use_count >= pktns->crypto.ctx.max_encryption ||
      (!(conn->flags & NGTCP2_CONN_FLAG_KEY_UPDATE_NOT_CONFIRMED) &&
       !conn->crypto.key_update.new_rx_ckm)) {
    return 1;
  }
  /* An acknowledgement that is due: the test of ngtcp2_acktr_create_ack_frame. */
  if (ngtcp2_tstamp_elapsed(acktr->first_unacked_ts,
                            (acktr->flags & NGTCP2_ACKTR_FLAG_IMMEDIATE_ACK)
                              ? 0
                              : conn_compute_ack_delay(conn),
                            ts)) {
    return 1;
  }
  /* A PTO probe, or a keep-alive PING. */
  if (pktns->rtb.probe_pkt_left || conn_keep_alive_expired(conn, ts)) {
    return 1;
  }
  /* Queued frames: control frames, 1-RTT crypto data, streams with frames of their own
     (MAX_STREAM_DATA, RESET_STREAM, STOP_SENDING, retransmissions), MAX_DATA, MAX_STREAMS,
     NEW_CONNECTION_ID. */
  if (pktns->tx.frq || !ngtcp2_strm_streamfrq_empty(&pktns->crypto.strm) ||
      !ngtcp2_pq_empty(&conn->tx.strmq) || conn_should_send_max_data(conn) ||
      conn->remote.bidi.unsent_max_streams > conn->remote.bidi.max_streams ||
      conn->remote.uni.unsent_max_streams > conn->remote.uni.max_streams ||
      (conn->oscid.datalen && conn_required_num_new_connection_id(conn))) {
    return 1;
  }
  /* Path validation, PATH_RESPONSE, a path-MTU probe. */
  if (conn->pv || ngtcp2_ringbuf_len(&conn->rx.path_challenge.rb) ||
      (conn->pmtud && ngtcp2_pmtud_require_probe(conn->pmtud))) {
    return 1;
  }
  return 0;
}

/*
 * qsse_ngtcp2_conn_skip_write does what a call to ngtcp2_conn_writev_stream that writes
 * nothing does to |conn| (conn_write_vmsg_wrapper): it notes that the application, not the
 * congestion window, limits the rate, so that the controller does not grow the window on
 * packets sent while the application had nothing to send. Call it instead of that write,
 * at the same |ts|, only when qsse_ngtcp2_conn_has_pending_tx returned 0.
 */
void qsse_ngtcp2_conn_skip_write(ngtcp2_conn *conn, ngtcp2_tstamp ts) {
  ngtcp2_conn_stat *cstat = &conn->cstat;

  conn_update_timestamp(conn, ts);
  if (cstat->bytes_in_flight >= cstat->cwnd) {
    conn->rst.is_cwnd_limited = 1;
  } else if ((cstat->cwnd >= cstat->ssthresh || cstat->bytes_in_flight * 2 < cstat->cwnd) &&
             conn->tx.pacing.next_ts == UINT64_MAX) {
    conn->rst.app_limited = conn->rst.delivered + cstat->bytes_in_flight;
    if (conn->rst.app_limited == 0) {
      conn->rst.app_limited = cstat->max_tx_udp_payload_size;
    }
  }
}
