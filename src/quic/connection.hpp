// quic/connection.hpp — one QUIC connection (ngtcp2 + wolfSSL), without I/O and without a clock.
//
// The caller owns sockets and time: it passes each received datagram and the current time in
// (read_datagram), asks for datagrams to send (write), and calls handle_expiry when the time
// returned by expiry() has come. Everything the connection has to tell goes to its
// ConnectionObserver, synchronously, from inside those calls.
//
// Stream data is sent without copying: send() queues a BufferRef slice, which the connection
// keeps until the peer has acknowledged those bytes (ngtcp2's acked_stream_data_offset), then
// drops. buffered_bytes() is queued + unacknowledged bytes, the figure a slow-consumer policy
// bounds.
//
// Lifecycle (state()): kHandshaking -> kEstablished -> kClosing (we sent CONNECTION_CLOSE) or
// kDraining (the peer did) -> kClosed. In kClosed the owner must destroy the connection; it does
// so after on_closed. Connection IDs the connection starts or stops using are reported to its
// CidRegistry so a server can route datagrams to it.
//
// Thread safety: none. A connection belongs to the one thread (shard) that drives it.
#pragma once

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <qsse/result.hpp>

#include "quic/block_pool.hpp"
#include "quic/shared_buffer.hpp"
#include "quic/tls.hpp"

struct WOLFSSL;

namespace qsse::quic {

// Monotonic time in nanoseconds, supplied by the caller (ngtcp2's unit).
using Timestamp = uint64_t;
inline constexpr uint64_t kMicrosecond = NGTCP2_MICROSECONDS;
inline constexpr uint64_t kMillisecond = NGTCP2_MILLISECONDS;
inline constexpr uint64_t kSecond = NGTCP2_SECONDS;

// At most this many packets form one GSO burst (the kernel's UDP_SEGMENT limit).
inline constexpr size_t kMaxBurstPackets = 64;
// Largest UDP payload we accept (our max_udp_payload_size transport parameter). Every
// io::DatagramIo backend receives datagrams at least this large.
inline constexpr size_t kMaxRxUdpPayload = 16'384;
// Length of the connection IDs we issue; the first byte carries the shard id.
inline constexpr size_t kCidLength = 16;

// Flow-control and timing settings for one connection. The defaults are sized for streaming
// events: a connection may have 16 MiB in flight, each stream 4 MiB.
struct TransportSettings {
  uint64_t idle_timeout = 30 * kSecond;
  // Sends a PING when nothing was sent for this long (0: off). Clients keep this on so idle
  // subscriptions survive NAT and the server's idle timeout.
  uint64_t keep_alive = 0;
  uint64_t handshake_timeout = 10 * kSecond;
  uint64_t max_data = 16u << 20;
  uint64_t max_stream_data = 4u << 20;
  uint64_t max_streams_bidi = 4;
  uint64_t max_streams_uni = 64;
  // Largest UDP payload we ever send. Path MTU discovery probes kPathMtuProbes (those not above
  // this), largest first, from 1200 bytes up: 16,000-byte datagrams on loopback (MTU 64 KiB),
  // jumbo frames, then Ethernet. Fewer, larger packets cut the per-packet work (headers, AEAD
  // setup, acknowledgements) on both ends.
  size_t max_tx_udp_payload = 16'000;
  // Largest UDP payload the peer may send us (our max_udp_payload_size transport parameter, at
  // most kMaxRxUdpPayload). ngtcp2 keeps a decryption buffer as large as the largest packet
  // received, per connection: an endpoint that mostly receives acknowledgements asks for less.
  size_t max_rx_udp_payload = kMaxRxUdpPayload;
  bool path_mtu_discovery = true;
  ngtcp2_cc_algo congestion_control = NGTCP2_CC_ALGO_CUBIC;
  // Acknowledge once per this many ack-eliciting packets received (and a lone packet after half
  // the max_ack_delay we announce, or at once when packets arrive out of order). RFC 9000
  // suggests 2; a subscriber mostly receives, and every acknowledgement costs both ends a
  // packet. 16, as with ACK decimation: see docs/ENGINE.md, "Acknowledgements".
  size_t ack_eliciting_threshold = 16;
};

// One network path: local and remote socket addresses.
struct PathAddresses {
  sockaddr_storage local{};
  socklen_t local_len = 0;
  sockaddr_storage remote{};
  socklen_t remote_len = 0;

  ngtcp2_path as_ngtcp2() const {
    return ngtcp2_path{
        {const_cast<sockaddr*>(reinterpret_cast<const sockaddr*>(&local)), local_len},
        {const_cast<sockaddr*>(reinterpret_cast<const sockaddr*>(&remote)), remote_len},
        nullptr};
  }
};

class Connection;

// Receives what happens on a connection. Called on the connection's thread, from inside
// read_datagram, write and handle_expiry. Implementations must not destroy the connection
// from a callback.
class ConnectionObserver {
 public:
  virtual ~ConnectionObserver() = default;
  // The handshake finished; conn.alpn() is the negotiated protocol.
  virtual void on_handshake_completed(Connection& conn) = 0;
  // In-order bytes of a stream (fin: no more will come). Return false to reject the data: the
  // connection is then closed with the application error set by close() inside the callback, or
  // with a protocol violation when none was set.
  virtual bool on_stream_data(Connection& conn, int64_t stream_id, std::span<const uint8_t> data,
                              bool fin) = 0;
  // The peer opened a stream.
  virtual void on_stream_opened(Connection& conn, int64_t stream_id) {
    (void)conn, (void)stream_id;
  }
  // A stream is closed in both directions; app_error is the peer's code if it reset it.
  virtual void on_stream_closed(Connection& conn, int64_t stream_id, uint64_t app_error) {
    (void)conn, (void)stream_id, (void)app_error;
  }
  // The peer raised the limit on streams we may open.
  virtual void on_streams_available(Connection& conn) { (void)conn; }
  // The connection reached kClosed (or is being destroyed before that); `error` says why.
  virtual void on_closed(Connection& conn) { (void)conn; }
};

// Told about connection IDs a connection starts or stops answering to (server routing).
class CidRegistry {
 public:
  virtual ~CidRegistry() = default;
  virtual void add_cid(const ngtcp2_cid& cid, Connection& conn) = 0;
  virtual void remove_cid(const ngtcp2_cid& cid) = 0;
};

// Why a connection ended, as far as the connection knows it.
struct CloseReason {
  enum class Kind : uint8_t {
    kNone,              // still open
    kLocalApplication,  // we closed it with an application error code
    kLocalTransport,    // we closed it because of a transport/TLS/protocol error
    kPeerApplication,   // the peer closed it with an application error code
    kPeerTransport,     // the peer closed it with a transport error code
    kIdleTimeout,       // no traffic for the idle timeout
    kHandshakeTimeout,  // the handshake did not finish in time
    kStatelessReset,    // the peer reset it
  };
  Kind kind = Kind::kNone;
  uint64_t code = 0;  // application or transport error code, or TLS alert for crypto errors
  std::string reason;
};

// What the owner should do after write(): send `bytes` bytes of `out` to remote() as one
// burst of packets of `segment_size` bytes (the last one may be shorter). `drained`: the
// connection has nothing more to write now, so calling write() again before something
// changes (a datagram read, data queued, a timer) would only return an empty burst.
struct Burst {
  size_t bytes = 0;
  size_t segment_size = 0;
  size_t packets = 0;
  bool drained = false;
};

class Connection {
 public:
  enum class State : uint8_t { kHandshaking, kEstablished, kClosing, kDraining, kClosed };

  struct Config {
    TransportSettings transport;
    uint8_t shard_id = 0;                    // encoded in the first byte of the CIDs we issue
    const uint8_t* static_secret = nullptr;  // 32 bytes, for stateless reset tokens
    CidRegistry* cid_registry = nullptr;     // server: where our CIDs are announced
    ConnectionObserver* observer = nullptr;
    // Client: an address-validation token to present in the first Initial (RFC 9000 8.1.3);
    // empty: none. A server only trusts a token it can verify.
    std::vector<uint8_t> token;
  };

  // Client: starts a handshake to `path.remote`. Call write() immediately afterwards to send
  // the first Initial. Errors: a message (TLS session or ngtcp2 allocation failure).
  [[nodiscard]] static Result<std::unique_ptr<Connection>, std::string> connect(
      std::shared_ptr<const TlsContext> tls, const PathAddresses& path, const Config& config,
      Timestamp now);

  // Server: accepts the connection whose first Initial has header `initial` (decoded with
  // ngtcp2_accept). `retry_odcid` is the original DCID when the client came back after a Retry
  // (nullptr otherwise). The caller then passes the same datagram to read_datagram.
  [[nodiscard]] static Result<std::unique_ptr<Connection>, std::string> accept(
      std::shared_ptr<const TlsContext> tls, const PathAddresses& path,
      const ngtcp2_pkt_hd& initial, const ngtcp2_cid* retry_odcid, const Config& config,
      Timestamp now);

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Processes one received datagram (one QUIC packet train). Never fails: errors move the
  // connection to kClosing/kDraining/kClosed, which state() reports.
  void read_datagram(const PathAddresses& path, std::span<const uint8_t> datagram, Timestamp now);

  // Writes the next burst of packets into `out` (at least max_udp_payload() bytes; up to
  // kMaxBurstPackets packets of the same size, the last possibly shorter). Burst.bytes == 0 means
  // nothing to send now. In kClosing it writes the CONNECTION_CLOSE packet once per call to
  // read_datagram that received something.
  Burst write(std::span<uint8_t> out, Timestamp now);

  // The next time handle_expiry must be called (UINT64_MAX: no timer).
  Timestamp expiry() const;
  void handle_expiry(Timestamp now);

  // Opens a stream we initiate. Errors: kStreamLimit (peer's limit reached; wait for
  // on_streams_available), kClosed.
  enum class StreamError : uint8_t { kStreamLimit, kClosed, kUnknownStream, kFinished };
  [[nodiscard]] Result<int64_t, StreamError> open_uni_stream() { return open_stream(false); }
  [[nodiscard]] Result<int64_t, StreamError> open_bidi_stream() { return open_stream(true); }

  // Queues `length` bytes of `buffer` from `offset` on a stream, without copying. The reference
  // is held until the peer acknowledges the bytes; bytes that continue the last queued range
  // (the next slice of the same slab) extend it and take no reference of their own. Errors:
  // kUnknownStream, kFinished (after finish()), kClosed.
  [[nodiscard]] Result<void, StreamError> send(int64_t stream_id, const BufferRef& buffer,
                                               size_t offset, size_t length);
  [[nodiscard]] Result<void, StreamError> send(int64_t stream_id, const BufferRef& buffer) {
    return send(stream_id, buffer, 0, buffer.size());
  }
  // Copies small control data into a fresh buffer and queues it.
  [[nodiscard]] Result<void, StreamError> send_copy(int64_t stream_id,
                                                    std::span<const uint8_t> bytes);
  // Ends the stream after what is queued (FIN).
  [[nodiscard]] Result<void, StreamError> finish(int64_t stream_id);
  // Abandons a stream in both directions with an application error code.
  void reset_stream(int64_t stream_id, uint64_t app_error);

  // Starts closing with an application error code; the next write() emits CONNECTION_CLOSE.
  void close(uint64_t app_error, std::string_view reason);

  State state() const { return state_; }
  bool is_server() const { return is_server_; }
  bool handshake_completed() const { return state_ != State::kHandshaking || handshake_done_; }
  // The negotiated ALPN protocol; empty before the handshake completed.
  std::string_view alpn() const { return alpn_; }
  const CloseReason& close_reason() const { return close_reason_; }
  // The TLS cipher suite in use (e.g. "TLS13-AES128-GCM-SHA256"); empty before the handshake.
  std::string_view cipher_name() const { return cipher_name_; }
  // Whether the wolfSSL session is still held. A server releases it (about 10 KB) once the
  // handshake completed: QUIC derives later keys without TLS, and a client has nothing more to
  // say in TLS (CRYPTO data after that closes the connection with unexpected_message).
  bool holds_tls_session() const { return ssl_ != nullptr; }
  // Bytes queued plus bytes sent but not yet acknowledged, over all streams.
  uint64_t buffered_bytes() const { return buffered_bytes_; }
  // How many times write() skipped its call into ngtcp2 because neither the streams nor
  // ngtcp2 had anything to send (docs/ENGINE.md, "Write calls").
  uint64_t writes_skipped() const { return writes_skipped_; }
  uint64_t stream_buffered_bytes(int64_t stream_id) const;
  // Current remote/local address (the path the connection sends on).
  PathAddresses path() const;
  // The remote address of that path, without a copy: valid until the next call that may change
  // the path (read_datagram, write, handle_expiry).
  const ngtcp2_addr& remote_address() const { return ngtcp2_conn_get_path(conn_)->remote; }
  size_t max_udp_payload() const;
  ngtcp2_conn* native() { return conn_; }
  // The owner's per-connection state (e.g. a session object); not used by the connection.
  void* user_data = nullptr;
  // The driver's mark (engine::Shard): the connection is on its list of connections to write.
  bool write_pending = false;
  void set_observer(ConnectionObserver* observer) { observer_ = observer; }

 private:
  struct Slice {
    BufferRef buffer;
    uint32_t begin;
    uint32_t end;
  };
  // Send side of one stream: slices from the acknowledged offset on; `unsent` indexes the first
  // slice with bytes not yet handed to ngtcp2, `unsent_offset` the position inside it.
  struct SendStream {
    int64_t id = 0;
    std::deque<Slice, PooledAllocator<Slice>> slices;
    size_t unsent = 0;
    uint32_t unsent_offset = 0;
    uint64_t acked_offset = 0;  // stream offset of slices.front().begin
    uint64_t queued = 0;        // bytes in slices
    bool fin_requested = false;
    bool fin_sent = false;
    bool blocked = false;  // stream flow control; cleared by extend_max_stream_data
    bool has_unsent() const { return unsent < slices.size(); }
    // Has data or a FIN to send, and flow control lets it.
    bool ready() const { return (has_unsent() || (fin_requested && !fin_sent)) && !blocked; }
  };

  Connection(std::shared_ptr<const TlsContext> tls, const Config& config, bool is_server);
  Result<int64_t, StreamError> open_stream(bool bidirectional);
  Result<void, std::string> init_tls();
  void fill_callbacks(ngtcp2_callbacks& callbacks) const;
  void fill_settings(ngtcp2_settings& settings, Timestamp now) const;
  void fill_transport_params(ngtcp2_transport_params& params) const;
  SendStream* find_stream(int64_t stream_id);
  const SendStream* find_stream(int64_t stream_id) const;
  SendStream* next_ready_stream();
  // Instead of a call into ngtcp2 that would write nothing (qsse_ngtcp2_conn_has_pending_tx
  // returned 0): what that call does to the connection, and the count. Built with
  // -Dverify_skipped_writes=true, it makes the call anyway and aborts if it writes anything.
  void skip_write(Timestamp now);
  // Whether a stream other than `except` (any, with nullptr) has data or a FIN to send and is
  // not blocked.
  bool other_stream_ready(const SendStream* except) const;
  void advance_unsent(SendStream& stream, size_t bytes);
  void release_acked(SendStream& stream, uint64_t offset, uint64_t length);
  void erase_stream(int64_t stream_id);
  void fail_with_liberr(int liberr, Timestamp now);
  void enter_closing(Timestamp now);
  void enter_draining(Timestamp now);
  void record_peer_close();
  void release_tls_session();
  size_t write_close(std::span<uint8_t> out, Timestamp now);

  // ngtcp2 callbacks.
  static int on_handshake_completed_cb(ngtcp2_conn*, void* user_data);
  static int on_recv_crypto_data_cb(ngtcp2_conn*, ngtcp2_encryption_level level, uint64_t offset,
                                    const uint8_t* data, size_t datalen, void* user_data);
  static int on_recv_stream_data_cb(ngtcp2_conn*, uint32_t flags, int64_t stream_id,
                                    uint64_t offset, const uint8_t* data, size_t datalen,
                                    void* user_data, void* stream_user_data);
  static int on_acked_stream_data_offset_cb(ngtcp2_conn*, int64_t stream_id, uint64_t offset,
                                            uint64_t datalen, void* user_data,
                                            void* stream_user_data);
  static int on_stream_open_cb(ngtcp2_conn*, int64_t stream_id, void* user_data);
  static int on_stream_close_cb(ngtcp2_conn*, uint32_t flags, int64_t stream_id,
                                uint64_t app_error_code, void* user_data, void* stream_user_data);
  static int on_extend_max_stream_data_cb(ngtcp2_conn*, int64_t stream_id, uint64_t max_data,
                                          void* user_data, void* stream_user_data);
  static int on_extend_max_streams_cb(ngtcp2_conn*, uint64_t max_streams, void* user_data);
  static int on_get_new_connection_id_cb(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token,
                                         size_t cidlen, void* user_data);
  static int on_remove_connection_id_cb(ngtcp2_conn*, const ngtcp2_cid* cid, void* user_data);
  static int on_recv_stateless_reset_cb(ngtcp2_conn*, const ngtcp2_pkt_stateless_reset*,
                                        void* user_data);
  static void on_rand_cb(uint8_t* dest, size_t destlen, const ngtcp2_rand_ctx* rand_ctx);
  static ngtcp2_conn* get_conn_cb(ngtcp2_crypto_conn_ref* ref);

  std::shared_ptr<const TlsContext> tls_;
  Config config_;
  ConnectionObserver* observer_ = nullptr;
  ngtcp2_conn* conn_ = nullptr;
  WOLFSSL* ssl_ = nullptr;
  ngtcp2_crypto_conn_ref conn_ref_{};
  bool is_server_;
  bool handshake_done_ = false;
  State state_ = State::kHandshaking;
  std::string alpn_;
  std::string_view cipher_name_;  // wolfSSL's static name table outlives the session
  CloseReason close_reason_;
  ngtcp2_ccerr ccerr_{};
  bool read_any_ = false;           // a packet was processed successfully
  bool observer_rejected_ = false;  // on_stream_data returned false
  bool close_requested_ = false;    // close() called; CONNECTION_CLOSE not yet written
  bool close_resend_ = false;       // a datagram arrived while closing: resend the close
  std::vector<uint8_t> close_packet_;
  Timestamp closing_deadline_ = UINT64_MAX;
  std::vector<SendStream> streams_;
  size_t round_robin_ = 0;
  uint64_t buffered_bytes_ = 0;
  uint64_t writes_skipped_ = 0;
  // A packet larger than the current burst's segment size (a path-MTU probe) is held here and
  // sent as the first packet of the next burst.
  std::vector<uint8_t> held_packet_;
};

}  // namespace qsse::quic
