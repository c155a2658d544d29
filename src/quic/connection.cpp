#include "quic/connection.hpp"

#include "quic/aead.hpp"
#include "quic/ngtcp2_additions.h"

#include <sys/random.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <ngtcp2/ngtcp2_crypto_wolfssl.h>

#include <sys/uio.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace qsse::quic {
namespace {

// Up to this many slices go into one ngtcp2_conn_writev_stream call.
constexpr size_t kMaxVecs = 16;
// TLS alerts we raise ourselves, reported as CRYPTO_ERROR transport codes (0x100 + alert).
constexpr uint8_t kAlertNoApplicationProtocol = 120;
constexpr uint8_t kAlertUnexpectedMessage = 10;

void fill_random(uint8_t* dest, size_t length) {
  while (length > 0) {
    ssize_t n = getrandom(dest, length, 0);
    if (n <= 0) continue;  // EINTR; getrandom does not fail otherwise once the pool is ready
    dest += n;
    length -= static_cast<size_t>(n);
  }
}

Connection* self(void* user_data) {
  return static_cast<Connection*>(user_data);
}

}  // namespace

Connection::Connection(std::shared_ptr<const TlsContext> tls, const Config& config, bool is_server)
    : tls_(std::move(tls)), config_(config), observer_(config.observer), is_server_(is_server) {
  ngtcp2_ccerr_default(&ccerr_);
  conn_ref_.get_conn = get_conn_cb;
  conn_ref_.user_data = this;
}

Connection::~Connection() {
  if (state_ != State::kClosed && observer_ != nullptr) observer_->on_closed(*this);
  if (conn_ != nullptr && config_.cid_registry != nullptr) {
    std::vector<ngtcp2_cid> cids(ngtcp2_conn_get_scid(conn_, nullptr));
    ngtcp2_conn_get_scid(conn_, cids.data());
    for (const auto& cid : cids) config_.cid_registry->remove_cid(cid);
  }
  if (conn_ != nullptr) ngtcp2_conn_del(conn_);
  if (ssl_ != nullptr) wolfSSL_free(ssl_);
}

ngtcp2_conn* Connection::get_conn_cb(ngtcp2_crypto_conn_ref* ref) {
  return static_cast<Connection*>(ref->user_data)->conn_;
}

void Connection::on_rand_cb(uint8_t* dest, size_t destlen, const ngtcp2_rand_ctx*) {
  fill_random(dest, destlen);
}

void Connection::fill_callbacks(ngtcp2_callbacks& cb) const {
  std::memset(&cb, 0, sizeof(cb));
  cb.client_initial = ngtcp2_crypto_client_initial_cb;
  cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  cb.recv_crypto_data = on_recv_crypto_data_cb;
  cb.encrypt = aead_encrypt_cb;
  cb.decrypt = aead_decrypt_cb;
  cb.hp_mask = hp_mask_cb;
  cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
  cb.update_key = ngtcp2_crypto_update_key_cb;
  cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  cb.handshake_completed = on_handshake_completed_cb;
  cb.recv_stream_data = on_recv_stream_data_cb;
  cb.acked_stream_data_offset = on_acked_stream_data_offset_cb;
  cb.stream_open = on_stream_open_cb;
  cb.stream_close = on_stream_close_cb;
  cb.extend_max_stream_data = on_extend_max_stream_data_cb;
  cb.extend_max_local_streams_uni = on_extend_max_streams_cb;
  cb.extend_max_local_streams_bidi = on_extend_max_streams_cb;
  cb.get_new_connection_id = on_get_new_connection_id_cb;
  cb.remove_connection_id = on_remove_connection_id_cb;
  cb.recv_stateless_reset = on_recv_stateless_reset_cb;
  cb.rand = on_rand_cb;
}

void Connection::fill_settings(ngtcp2_settings& settings, Timestamp now) const {
  ngtcp2_settings_default(&settings);
  const TransportSettings& t = config_.transport;
  settings.initial_ts = now;
  settings.cc_algo = t.congestion_control;
  settings.max_tx_udp_payload_size = t.max_tx_udp_payload;
  settings.no_pmtud = t.path_mtu_discovery ? 0 : 1;
  // Largest first (a success ends the search); those above our maximum are skipped, and in a
  // descending list what remains is a suffix.
  static constexpr uint16_t kPathMtuProbes[] = {16'000, 8'952, 1'472, 1'452, 1'392};
  size_t first = 0;
  while (first < std::size(kPathMtuProbes) && kPathMtuProbes[first] > t.max_tx_udp_payload) {
    ++first;
  }
  settings.pmtud_probes = kPathMtuProbes + first;
  settings.pmtud_probeslen = std::size(kPathMtuProbes) - first;
  settings.handshake_timeout = t.handshake_timeout;
  settings.max_window = t.max_data * 4;
  settings.max_stream_window = t.max_stream_data * 4;
  settings.ack_thresh = std::max<size_t>(t.ack_eliciting_threshold, 1);
}

void Connection::fill_transport_params(ngtcp2_transport_params& params) const {
  ngtcp2_transport_params_default(&params);
  const TransportSettings& t = config_.transport;
  params.max_udp_payload_size = t.max_rx_udp_payload;
  params.initial_max_data = t.max_data;
  params.initial_max_stream_data_bidi_local = t.max_stream_data;
  params.initial_max_stream_data_bidi_remote = t.max_stream_data;
  params.initial_max_stream_data_uni = t.max_stream_data;
  params.initial_max_streams_bidi = t.max_streams_bidi;
  params.initial_max_streams_uni = t.max_streams_uni;
  params.max_idle_timeout = t.idle_timeout;
  params.active_connection_id_limit = 4;
}

Result<void, std::string> Connection::init_tls() {
  ssl_ = tls_->new_session();
  if (ssl_ == nullptr) return fail(std::string("wolfSSL_new failed"));
  wolfSSL_set_app_data(ssl_, &conn_ref_);
  ngtcp2_conn_set_tls_native_handle(conn_, ssl_);
  return {};
}

Result<std::unique_ptr<Connection>, std::string> Connection::connect(
    std::shared_ptr<const TlsContext> tls, const PathAddresses& path, const Config& config,
    Timestamp now) {
  if (tls == nullptr || tls->is_server())
    return fail(std::string("connect needs a client TLS context"));
  std::unique_ptr<Connection> conn(new Connection(std::move(tls), config, false));
  ngtcp2_cid dcid, scid;
  dcid.datalen = kCidLength;
  fill_random(dcid.data, dcid.datalen);
  scid.datalen = kCidLength;
  fill_random(scid.data, scid.datalen);
  scid.data[0] = config.shard_id;

  ngtcp2_callbacks callbacks;
  conn->fill_callbacks(callbacks);
  ngtcp2_settings settings;
  conn->fill_settings(settings, now);
  if (!config.token.empty()) {  // ngtcp2 copies it
    settings.token = config.token.data();
    settings.tokenlen = config.token.size();
  }
  ngtcp2_transport_params params;
  conn->fill_transport_params(params);
  ngtcp2_path p = path.as_ngtcp2();
  int rc = ngtcp2_conn_client_new(&conn->conn_, &dcid, &scid, &p, NGTCP2_PROTO_VER_V1, &callbacks,
                                  &settings, &params, nullptr, conn.get());
  if (rc != 0) return fail(std::string("ngtcp2_conn_client_new: ") + ngtcp2_strerror(rc));
  if (auto tls_ok = conn->init_tls(); !tls_ok) return fail(tls_ok.error());
  if (config.cid_registry != nullptr) config.cid_registry->add_cid(scid, *conn);
  if (conn->config_.transport.keep_alive != 0) {
    ngtcp2_conn_set_keep_alive_timeout(conn->conn_, conn->config_.transport.keep_alive);
  }
  return conn;
}

Result<std::unique_ptr<Connection>, std::string> Connection::accept(
    std::shared_ptr<const TlsContext> tls, const PathAddresses& path, const ngtcp2_pkt_hd& initial,
    const ngtcp2_cid* retry_odcid, const Config& config, Timestamp now) {
  if (tls == nullptr || !tls->is_server())
    return fail(std::string("accept needs a server TLS context"));
  std::unique_ptr<Connection> conn(new Connection(std::move(tls), config, true));
  ngtcp2_cid scid;
  scid.datalen = kCidLength;
  fill_random(scid.data, scid.datalen);
  scid.data[0] = config.shard_id;

  ngtcp2_callbacks callbacks;
  conn->fill_callbacks(callbacks);
  ngtcp2_settings settings;
  conn->fill_settings(settings, now);
  // ngtcp2 takes a token in the settings as proof that the client's address is validated, and
  // lifts the limit of 3x the bytes received from it. Only a Retry token we verified is.
  if (retry_odcid != nullptr) {
    settings.token = initial.token;
    settings.tokenlen = initial.tokenlen;
    settings.token_type = NGTCP2_TOKEN_TYPE_RETRY;
  }
  ngtcp2_transport_params params;
  conn->fill_transport_params(params);
  if (retry_odcid != nullptr) {
    params.original_dcid = *retry_odcid;
    params.retry_scid = initial.dcid;
    params.retry_scid_present = 1;
  } else {
    params.original_dcid = initial.dcid;
  }
  params.original_dcid_present = 1;
  if (config.static_secret != nullptr) {
    params.stateless_reset_token_present = 1;
    ngtcp2_crypto_generate_stateless_reset_token(params.stateless_reset_token, config.static_secret,
                                                 32, &scid);
  }
  ngtcp2_path p = path.as_ngtcp2();
  int rc = ngtcp2_conn_server_new(&conn->conn_, &initial.scid, &scid, &p, initial.version,
                                  &callbacks, &settings, &params, nullptr, conn.get());
  if (rc != 0) return fail(std::string("ngtcp2_conn_server_new: ") + ngtcp2_strerror(rc));
  if (auto tls_ok = conn->init_tls(); !tls_ok) return fail(tls_ok.error());
  if (config.cid_registry != nullptr) config.cid_registry->add_cid(scid, *conn);
  return conn;
}

// ---- receiving ------------------------------------------------------------------------------

void Connection::read_datagram(const PathAddresses& path, std::span<const uint8_t> datagram,
                               Timestamp now) {
  switch (state_) {
    case State::kClosing:
      close_resend_ = true;  // the peer did not see our CONNECTION_CLOSE yet
      return;
    case State::kDraining:
    case State::kClosed:
      return;
    default:
      break;
  }
  ngtcp2_path p = path.as_ngtcp2();
  ngtcp2_pkt_info pi{};
  int rc = ngtcp2_conn_read_pkt(conn_, &p, &pi, datagram.data(), datagram.size(), now);
  if (rc == 0) {
    read_any_ = true;
    if (is_server_ && handshake_done_ && ssl_ != nullptr) release_tls_session();
    return;
  }
  if (!read_any_ && is_server_ && rc != NGTCP2_ERR_CRYPTO) {
    // The very first packet failed before TLS saw it (undecryptable Initial, bad CID, ...):
    // no keys may exist to protect a CONNECTION_CLOSE with, so the connection is dropped
    // silently, as if the datagram had never arrived. (A TLS failure, NGTCP2_ERR_CRYPTO, has
    // Initial keys and answers with its alert below.)
    state_ = State::kClosed;
    close_reason_ = {CloseReason::Kind::kLocalTransport, 0, ngtcp2_strerror(rc)};
    if (observer_ != nullptr) observer_->on_closed(*this);
    return;
  }
  switch (rc) {
    case NGTCP2_ERR_DRAINING:
      record_peer_close();
      enter_draining(now);
      return;
    case NGTCP2_ERR_DROP_CONN:
      state_ = State::kClosed;
      if (close_reason_.kind == CloseReason::Kind::kNone) {
        close_reason_ = {CloseReason::Kind::kLocalTransport, 0, "dropped by QUIC stack"};
      }
      if (observer_ != nullptr) observer_->on_closed(*this);
      return;
    case NGTCP2_ERR_CRYPTO: {
      uint8_t alert = ngtcp2_conn_get_tls_alert(conn_);
      if (!close_requested_) {
        ngtcp2_ccerr_set_tls_alert(&ccerr_, alert, nullptr, 0);
        if (close_reason_.kind == CloseReason::Kind::kNone) {
          close_reason_ = {CloseReason::Kind::kLocalTransport, alert, "TLS handshake failed"};
        }
      }
      enter_closing(now);
      return;
    }
    default:
      fail_with_liberr(rc, now);
      return;
  }
}

void Connection::record_peer_close() {
  const ngtcp2_ccerr* peer = ngtcp2_conn_get_ccerr(conn_);
  if (close_reason_.kind != CloseReason::Kind::kNone) return;
  close_reason_.kind = peer->type == NGTCP2_CCERR_TYPE_APPLICATION
                           ? CloseReason::Kind::kPeerApplication
                           : CloseReason::Kind::kPeerTransport;
  close_reason_.code = peer->error_code;
  close_reason_.reason.assign(reinterpret_cast<const char*>(peer->reason), peer->reasonlen);
}

void Connection::fail_with_liberr(int liberr, Timestamp now) {
  if (!close_requested_) {
    if (liberr == NGTCP2_ERR_CALLBACK_FAILURE && observer_rejected_) {
      // An observer rejected data without choosing a code: a protocol violation of ours.
      ngtcp2_ccerr_set_application_error(&ccerr_, NGTCP2_PROTOCOL_VIOLATION, nullptr, 0);
      close_reason_ = {CloseReason::Kind::kLocalApplication, NGTCP2_PROTOCOL_VIOLATION,
                       "stream data rejected"};
    } else {
      ngtcp2_ccerr_set_liberr(&ccerr_, liberr, nullptr, 0);
      close_reason_ = {CloseReason::Kind::kLocalTransport, ccerr_.error_code,
                       ngtcp2_strerror(liberr)};
    }
  }
  enter_closing(now);
}

void Connection::enter_closing(Timestamp now) {
  if (state_ == State::kClosing || state_ == State::kDraining || state_ == State::kClosed) return;
  state_ = State::kClosing;
  close_requested_ = true;
  close_resend_ = true;  // write the CONNECTION_CLOSE on the next write()
  closing_deadline_ = now + 3 * ngtcp2_conn_get_pto(conn_);
}

void Connection::enter_draining(Timestamp now) {
  if (state_ == State::kDraining || state_ == State::kClosed) return;
  state_ = State::kDraining;
  closing_deadline_ = now + 3 * ngtcp2_conn_get_pto(conn_);
}

void Connection::close(uint64_t app_error, std::string_view reason) {
  if (close_requested_ || state_ == State::kDraining || state_ == State::kClosed) return;
  ngtcp2_ccerr_set_application_error(
      &ccerr_, app_error, reinterpret_cast<const uint8_t*>(reason.data()), reason.size());
  close_reason_ = {CloseReason::Kind::kLocalApplication, app_error, std::string(reason)};
  close_requested_ = true;
  close_resend_ = true;
  // The transition to kClosing happens in write(), where the close packet is built with the
  // current time (close() may be called from inside a callback).
}

// ---- sending --------------------------------------------------------------------------------

size_t Connection::write_close(std::span<uint8_t> out, Timestamp now) {
  if (close_packet_.empty()) {
    if (ngtcp2_conn_in_closing_period(conn_) || ngtcp2_conn_in_draining_period(conn_)) {
      return 0;
    }
    // Built in `out` and kept at its exact size (thousands of connections may be closing).
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi{};
    ngtcp2_ssize n = ngtcp2_conn_write_connection_close(conn_, &ps.path, &pi, out.data(),
                                                        out.size(), &ccerr_, now);
    if (n <= 0) return 0;
    close_packet_.assign(out.data(), out.data() + n);
    return static_cast<size_t>(n);
  }
  if (out.size() < close_packet_.size()) return 0;
  std::memcpy(out.data(), close_packet_.data(), close_packet_.size());
  return close_packet_.size();
}

Burst Connection::write(std::span<uint8_t> out, Timestamp now) {
  Burst burst;
  if (state_ == State::kDraining || state_ == State::kClosed) return burst;
  if (close_requested_) {
    if (state_ != State::kClosing) enter_closing(now);
    if (!close_resend_) return burst;
    close_resend_ = false;
    burst.bytes = write_close(out, now);
    burst.segment_size = burst.bytes;
    burst.packets = burst.bytes > 0 ? 1 : 0;
    return burst;
  }

  size_t offset = 0;
  if (!held_packet_.empty()) {
    if (out.size() < held_packet_.size()) return burst;
    std::memcpy(out.data(), held_packet_.data(), held_packet_.size());
    burst = {held_packet_.size(), held_packet_.size(), 1};
    std::vector<uint8_t>().swap(held_packet_);  // probes are rare: keep no 16 KB per connection
    return burst;
  }

  // Most writes after a read find nothing to send: answer those before sizing a burst.
  if (!other_stream_ready(nullptr) && !qsse_ngtcp2_conn_has_pending_tx(conn_, now)) {
    skip_write(now);
    burst.drained = true;
    return burst;
  }

  const size_t path_max = ngtcp2_conn_get_path_max_tx_udp_payload_size(conn_);
  const size_t payload = ngtcp2_conn_get_max_tx_udp_payload_size(conn_);
  const size_t quantum = ngtcp2_conn_get_send_quantum(conn_);
  // Packets are path_max long (a PMTUD probe is the exception, and ends the burst); each write
  // call still needs room for `payload`, the largest probe.
  size_t max_packets = std::clamp<size_t>(quantum / path_max, 1, kMaxBurstPackets);

  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi{};
  ngtcp2_vec vecs[kMaxVecs];

  while (burst.packets < max_packets) {
    const size_t room = out.size() - offset;
    if (room < payload) break;
    uint8_t* dest = out.data() + offset;
    // ngtcp2 sizes ordinary packets to the discovered path MTU by itself; the room beyond it is
    // what lets it write a probe.
    const size_t dest_len = std::min(room, payload);

    SendStream* stream = next_ready_stream();
    int64_t stream_id = -1;
    size_t nvecs = 0;
    uint32_t flags = 0;
    if (stream != nullptr) {
      stream_id = stream->id;
      uint32_t first_offset = stream->unsent_offset;
      for (size_t i = stream->unsent; i < stream->slices.size() && nvecs < kMaxVecs; ++i) {
        const Slice& s = stream->slices[i];
        uint32_t begin = s.begin + (i == stream->unsent ? first_offset : 0);
        vecs[nvecs].base = const_cast<uint8_t*>(s.buffer.data()) + begin;
        vecs[nvecs].len = s.end - begin;
        ++nvecs;
      }
      const bool all_queued = stream->unsent + nvecs == stream->slices.size();
      if (stream->fin_requested && all_queued) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
      // Ask to fill the packet further (NGTCP2_ERR_WRITE_MORE) only when there is more to fill
      // it with. Otherwise ngtcp2 closes the packet in this call: a lone event takes one call,
      // not a second one with no data whose only work is to close the packet.
      if (!all_queued || other_stream_ready(stream)) flags |= NGTCP2_WRITE_STREAM_FLAG_MORE;
    } else if (!qsse_ngtcp2_conn_has_pending_tx(conn_, now)) {
      // Nothing of ours and nothing of ngtcp2's (after a lone event's packet, most often): the
      // call would build a packet header and discard it. Skip it, keeping what it does.
      skip_write(now);
      burst.drained = true;
      break;
    }

    ngtcp2_ssize accepted = -1;
    ngtcp2_ssize n = ngtcp2_conn_writev_stream(conn_, &ps.path, &pi, dest, dest_len, &accepted,
                                               flags, stream_id, vecs, nvecs, now);
    if (stream != nullptr && accepted >= 0) {
      advance_unsent(*stream, static_cast<size_t>(accepted));
      if ((flags & NGTCP2_WRITE_STREAM_FLAG_FIN) && !stream->has_unsent()) stream->fin_sent = true;
    }
    if (n < 0) {
      if (n == NGTCP2_ERR_WRITE_MORE) continue;
      if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
        stream->blocked = true;
        continue;
      }
      if (n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND) {
        erase_stream(stream_id);
        continue;
      }
      fail_with_liberr(static_cast<int>(n), now);
      break;
    }
    if (n == 0) {  // nothing more now: congestion window, pacing or nothing queued
      // Unless another stream has something: this one may be held back by connection-level
      // flow control, which does not hold back another stream's FIN (the next write() takes
      // the streams from the next one on).
      burst.drained = stream == nullptr || !other_stream_ready(stream);
      break;
    }
    const size_t written = static_cast<size_t>(n);
    if (burst.packets == 0) {
      burst.segment_size = written;
    } else if (written > burst.segment_size) {
      // A larger packet (a path-MTU probe) cannot join this GSO burst: send it next time.
      held_packet_.assign(dest, dest + written);
      break;
    }
    offset += written;
    burst.bytes = offset;
    ++burst.packets;
    if (written < burst.segment_size) break;  // a short packet ends a burst
  }
  if (burst.packets > 0 || !held_packet_.empty()) ngtcp2_conn_update_pkt_tx_time(conn_, now);
  if (close_requested_ && burst.bytes == 0) return write(out, now);  // fatal error above
  return burst;
}

void Connection::skip_write(Timestamp now) {
#ifdef QSSE_VERIFY_SKIPPED_WRITES
  // The call being skipped, made anyway: it must write nothing (and then has the same effect).
  const ngtcp2_ssize n = write_without_stream_data(conn_, now);
  if (n != 0) {
    std::fprintf(stderr, "qsse: a skipped write would have written %zd (%s)\n", n,
                 n < 0 ? ngtcp2_strerror(static_cast<int>(n)) : "bytes");
    std::abort();
  }
#endif
  qsse_ngtcp2_conn_skip_write(conn_, now);
  ++writes_skipped_;
}

Connection::SendStream* Connection::find_stream(int64_t stream_id) {
  for (auto& s : streams_) {
    if (s.id == stream_id) return &s;
  }
  return nullptr;
}

const Connection::SendStream* Connection::find_stream(int64_t stream_id) const {
  for (const auto& s : streams_) {
    if (s.id == stream_id) return &s;
  }
  return nullptr;
}

Connection::SendStream* Connection::next_ready_stream() {
  const size_t n = streams_.size();
  for (size_t i = 0; i < n; ++i) {
    SendStream& s = streams_[(round_robin_ + i) % n];
    if (s.ready()) {
      round_robin_ = (round_robin_ + i + 1) % n;
      return &s;
    }
  }
  return nullptr;
}

bool Connection::other_stream_ready(const SendStream* except) const {
  return std::any_of(streams_.begin(), streams_.end(),
                     [except](const SendStream& s) { return &s != except && s.ready(); });
}

void Connection::advance_unsent(SendStream& stream, size_t bytes) {
  while (bytes > 0 && stream.has_unsent()) {
    const Slice& s = stream.slices[stream.unsent];
    const size_t left = s.end - s.begin - stream.unsent_offset;
    if (bytes < left) {
      stream.unsent_offset += static_cast<uint32_t>(bytes);
      return;
    }
    bytes -= left;
    ++stream.unsent;
    stream.unsent_offset = 0;
  }
}

void Connection::release_acked(SendStream& stream, uint64_t offset, uint64_t length) {
  // ngtcp2 reports acknowledged data in order, so everything below offset + length is done.
  const uint64_t acked_to = offset + length;
  while (!stream.slices.empty()) {
    const Slice& s = stream.slices.front();
    const uint64_t slice_len = s.end - s.begin;
    if (stream.acked_offset + slice_len > acked_to) break;
    stream.acked_offset += slice_len;
    stream.queued -= slice_len;
    buffered_bytes_ -= slice_len;
    stream.slices.pop_front();
    --stream.unsent;  // acknowledged slices were all sent, so unsent > 0 here
  }
}

void Connection::erase_stream(int64_t stream_id) {
  for (size_t i = 0; i < streams_.size(); ++i) {
    if (streams_[i].id == stream_id) {
      buffered_bytes_ -= streams_[i].queued;
      streams_.erase(streams_.begin() + static_cast<std::ptrdiff_t>(i));
      if (round_robin_ >= streams_.size()) round_robin_ = 0;
      return;
    }
  }
}

Result<int64_t, Connection::StreamError> Connection::open_stream(bool bidirectional) {
  if (state_ != State::kEstablished && state_ != State::kHandshaking) {
    return fail(StreamError::kClosed);
  }
  int64_t id;
  int rc = bidirectional ? ngtcp2_conn_open_bidi_stream(conn_, &id, nullptr)
                         : ngtcp2_conn_open_uni_stream(conn_, &id, nullptr);
  if (rc == NGTCP2_ERR_STREAM_ID_BLOCKED) return fail(StreamError::kStreamLimit);
  if (rc != 0) return fail(StreamError::kClosed);
  streams_.emplace_back().id = id;
  return id;
}

Result<void, Connection::StreamError> Connection::send(int64_t stream_id, const BufferRef& buffer,
                                                       size_t offset, size_t length) {
  if (close_requested_ || state_ == State::kDraining || state_ == State::kClosed) {
    return fail(StreamError::kClosed);
  }
  SendStream* stream = find_stream(stream_id);
  if (stream == nullptr) {
    // A bidirectional stream the peer opened: its send side appears on first use.
    if (!ngtcp2_is_bidi_stream(stream_id) || ngtcp2_conn_is_local_stream(conn_, stream_id)) {
      return fail(StreamError::kUnknownStream);
    }
    streams_.emplace_back().id = stream_id;
    stream = &streams_.back();
  }
  if (stream->fin_requested) return fail(StreamError::kFinished);
  if (length == 0) return {};
  stream->queued += length;
  buffered_bytes_ += length;
  // Bytes that continue the last queued range in the same slab (consecutive events) extend it:
  // one range, one ngtcp2 vector, one release for a whole run. Only while that range still
  // has unsent bytes, since sent ranges are done growing.
  if (stream->has_unsent()) {
    Slice& last = stream->slices.back();
    if (last.buffer.continues_into(last.end, buffer, offset)) {
      last.end += static_cast<uint32_t>(length);
      return {};
    }
  }
  stream->slices.push_back(
      Slice{buffer, static_cast<uint32_t>(offset), static_cast<uint32_t>(offset + length)});
  return {};
}

Result<void, Connection::StreamError> Connection::send_copy(int64_t stream_id,
                                                            std::span<const uint8_t> bytes) {
  return send(stream_id, BufferRef::copy_of(bytes));
}

Result<void, Connection::StreamError> Connection::finish(int64_t stream_id) {
  SendStream* stream = find_stream(stream_id);
  if (stream == nullptr) return fail(StreamError::kUnknownStream);
  stream->fin_requested = true;
  return {};
}

void Connection::reset_stream(int64_t stream_id, uint64_t app_error) {
  if (conn_ != nullptr) ngtcp2_conn_shutdown_stream(conn_, 0, stream_id, app_error);
  erase_stream(stream_id);
}

uint64_t Connection::stream_buffered_bytes(int64_t stream_id) const {
  const SendStream* stream = find_stream(stream_id);
  return stream == nullptr ? 0 : stream->queued;
}

PathAddresses Connection::path() const {
  PathAddresses out;
  const ngtcp2_path* p = ngtcp2_conn_get_path(conn_);
  std::memcpy(&out.local, p->local.addr, p->local.addrlen);
  out.local_len = p->local.addrlen;
  std::memcpy(&out.remote, p->remote.addr, p->remote.addrlen);
  out.remote_len = p->remote.addrlen;
  return out;
}

void Connection::release_tls_session() {
  // Called outside ngtcp2's callbacks, after the packet that completed the handshake was
  // processed: wolfSSL has written its last flight (session ticket included) into ngtcp2's
  // buffers. Key updates use ngtcp2's own copy of the negotiated AEAD and hash, not the session.
  ngtcp2_conn_set_tls_native_handle(conn_, nullptr);
  wolfSSL_free(ssl_);
  ssl_ = nullptr;
}

size_t Connection::max_udp_payload() const {
  return ngtcp2_conn_get_path_max_tx_udp_payload_size(conn_);
}

// ---- timers ---------------------------------------------------------------------------------

Timestamp Connection::expiry() const {
  if (state_ == State::kClosed) return UINT64_MAX;
  if (state_ == State::kClosing || state_ == State::kDraining) return closing_deadline_;
  return ngtcp2_conn_get_expiry(conn_);
}

void Connection::handle_expiry(Timestamp now) {
  if (state_ == State::kClosed) return;
  if (state_ == State::kClosing || state_ == State::kDraining) {
    if (now >= closing_deadline_) {
      state_ = State::kClosed;
      if (observer_ != nullptr) observer_->on_closed(*this);
    }
    return;
  }
  int rc = ngtcp2_conn_handle_expiry(conn_, now);
  if (rc == 0) return;
  if (rc == NGTCP2_ERR_IDLE_CLOSE || rc == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
    close_reason_ = {rc == NGTCP2_ERR_IDLE_CLOSE ? CloseReason::Kind::kIdleTimeout
                                                 : CloseReason::Kind::kHandshakeTimeout,
                     0, ngtcp2_strerror(rc)};
    state_ = State::kClosed;  // silent close: the peer is gone or will time out too
    if (observer_ != nullptr) observer_->on_closed(*this);
    return;
  }
  fail_with_liberr(rc, now);
}

// ---- ngtcp2 callbacks -----------------------------------------------------------------------

int Connection::on_handshake_completed_cb(ngtcp2_conn*, void* user_data) {
  Connection* c = self(user_data);
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  wolfSSL_get0_alpn_selected(c->ssl_, &alpn, &alpn_len);
  if (alpn == nullptr || alpn_len == 0) {
    // The peer negotiated no protocol: we speak nothing without one.
    ngtcp2_ccerr_set_tls_alert(&c->ccerr_, kAlertNoApplicationProtocol, nullptr, 0);
    c->close_reason_ = {CloseReason::Kind::kLocalTransport, kAlertNoApplicationProtocol,
                        "no ALPN protocol negotiated"};
    c->close_requested_ = true;
    c->close_resend_ = true;
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  c->alpn_.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  if (const char* cipher = wolfSSL_get_cipher_name(c->ssl_); cipher != nullptr) {
    c->cipher_name_ = cipher;
  }
  c->handshake_done_ = true;
  c->state_ = State::kEstablished;
  if (c->observer_ != nullptr) c->observer_->on_handshake_completed(*c);
  return 0;
}

int Connection::on_recv_crypto_data_cb(ngtcp2_conn* conn, ngtcp2_encryption_level level,
                                       uint64_t offset, const uint8_t* data, size_t datalen,
                                       void* user_data) {
  Connection* c = self(user_data);
  if (c->ssl_ != nullptr) {
    return ngtcp2_crypto_recv_crypto_data_cb(conn, level, offset, data, datalen, user_data);
  }
  // The session was released after the handshake: a client has no TLS message left to send
  // (RFC 9001 §4.1.3: post-handshake messages other than ours are unexpected).
  ngtcp2_conn_set_tls_alert(conn, kAlertUnexpectedMessage);
  c->close_reason_ = {CloseReason::Kind::kLocalTransport, kAlertUnexpectedMessage,
                      "TLS data after the handshake"};
  return NGTCP2_ERR_CRYPTO;
}

int Connection::on_recv_stream_data_cb(ngtcp2_conn* conn, uint32_t flags, int64_t stream_id,
                                       uint64_t, const uint8_t* data, size_t datalen,
                                       void* user_data, void*) {
  Connection* c = self(user_data);
  const bool fin = (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0;
  if (c->observer_ != nullptr &&
      !c->observer_->on_stream_data(*c, stream_id, {data, datalen}, fin)) {
    c->observer_rejected_ = true;
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  // The observer consumed the bytes: give the credit back at once.
  ngtcp2_conn_extend_max_stream_offset(conn, stream_id, datalen);
  ngtcp2_conn_extend_max_offset(conn, datalen);
  return 0;
}

int Connection::on_acked_stream_data_offset_cb(ngtcp2_conn*, int64_t stream_id, uint64_t offset,
                                               uint64_t datalen, void* user_data, void*) {
  Connection* c = self(user_data);
  if (SendStream* s = c->find_stream(stream_id)) c->release_acked(*s, offset, datalen);
  return 0;
}

int Connection::on_stream_open_cb(ngtcp2_conn*, int64_t stream_id, void* user_data) {
  Connection* c = self(user_data);
  if (c->observer_ != nullptr) c->observer_->on_stream_opened(*c, stream_id);
  return 0;
}

int Connection::on_stream_close_cb(ngtcp2_conn*, uint32_t flags, int64_t stream_id,
                                   uint64_t app_error_code, void* user_data, void*) {
  Connection* c = self(user_data);
  c->erase_stream(stream_id);
  const uint64_t code = (flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET) ? app_error_code : 0;
  if (c->observer_ != nullptr) c->observer_->on_stream_closed(*c, stream_id, code);
  return 0;
}

int Connection::on_extend_max_stream_data_cb(ngtcp2_conn*, int64_t stream_id, uint64_t,
                                             void* user_data, void*) {
  if (SendStream* s = self(user_data)->find_stream(stream_id)) s->blocked = false;
  return 0;
}

int Connection::on_extend_max_streams_cb(ngtcp2_conn*, uint64_t, void* user_data) {
  Connection* c = self(user_data);
  if (c->observer_ != nullptr) c->observer_->on_streams_available(*c);
  return 0;
}

int Connection::on_get_new_connection_id_cb(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token,
                                            size_t cidlen, void* user_data) {
  Connection* c = self(user_data);
  fill_random(cid->data, cidlen);
  cid->datalen = cidlen;
  cid->data[0] = c->config_.shard_id;
  if (c->config_.static_secret != nullptr) {
    if (ngtcp2_crypto_generate_stateless_reset_token(token, c->config_.static_secret, 32, cid) !=
        0) {
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
  } else {
    fill_random(token, NGTCP2_STATELESS_RESET_TOKENLEN);
  }
  if (c->config_.cid_registry != nullptr) c->config_.cid_registry->add_cid(*cid, *c);
  return 0;
}

int Connection::on_remove_connection_id_cb(ngtcp2_conn*, const ngtcp2_cid* cid, void* user_data) {
  Connection* c = self(user_data);
  if (c->config_.cid_registry != nullptr) c->config_.cid_registry->remove_cid(*cid);
  return 0;
}

int Connection::on_recv_stateless_reset_cb(ngtcp2_conn*, const ngtcp2_pkt_stateless_reset*,
                                           void* user_data) {
  Connection* c = self(user_data);
  c->close_reason_ = {CloseReason::Kind::kStatelessReset, 0, "stateless reset by peer"};
  return 0;
}

}  // namespace qsse::quic
