// quic/endpoint.hpp — the server side of QUIC for one shard: routes datagrams to connections,
// accepts new ones, and answers what belongs to no connection. No I/O, no clock.
//
// For each received datagram the owner calls on_datagram(). The endpoint:
//   * decodes the version and connection IDs (malformed: dropped and counted);
//   * delivers it to the connection that owns the destination CID;
//   * for an unknown CID: accepts a valid client Initial (after address validation with a Retry
//     when `retry` says so or the handshake budget is exceeded), answers an unsupported version
//     with Version Negotiation, answers a short-header packet with a Stateless Reset (smaller
//     than what triggered it, so two endpoints cannot loop), and drops everything else.
// Replies that belong to no connection are written into the caller's `reply` buffer; the owner
// sends them to the datagram's source.
//
// Connections live until they reach Connection::State::kClosed; reap() destroys those. The
// owner drives each connection's write()/expiry() itself (for_each_connection).
//
// Thread safety: none; one endpoint per shard thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "quic/cid_table.hpp"
#include "quic/connection.hpp"

namespace qsse::quic {

struct EndpointConfig {
  uint8_t shard_id = 0;
  TransportSettings transport;
  // Connections beyond this are refused with CONNECTION_REFUSED.
  size_t max_connections = 100'000;
  // Address validation: kAlways sends a Retry to every new client; kUnderLoad only when more
  // than `handshake_budget` handshakes are in progress at once.
  enum class Retry : uint8_t { kNever, kUnderLoad, kAlways } retry = Retry::kUnderLoad;
  size_t handshake_budget = 1'000;
  uint64_t retry_token_lifetime = 10 * kSecond;
  // 32 bytes for stateless reset and Retry tokens; all zero means "generate at random". Shards
  // of one server share it, so any shard can reset or validate for another.
  std::array<uint8_t, 32> static_secret{};
};

// Counters an owner can export as metrics. Plain integers: read them on the shard thread.
struct EndpointStats {
  uint64_t datagrams = 0;
  uint64_t dropped_malformed = 0;      // not a QUIC packet we can parse
  uint64_t dropped_unknown = 0;        // no connection and nothing to answer
  uint64_t dropped_invalid_token = 0;  // Retry token that does not verify
  uint64_t accepted = 0;
  uint64_t accept_failed = 0;
  uint64_t refused = 0;  // over max_connections
  uint64_t retries_sent = 0;
  uint64_t version_negotiations_sent = 0;
  uint64_t stateless_resets_sent = 0;
};

class ServerEndpoint final {
 public:
  // `observer` receives the events of every connection this endpoint accepts; it can tell
  // them apart by Connection::user_data, which it may set in on_handshake_completed or in
  // `on_accept`.
  ServerEndpoint(std::shared_ptr<const TlsContext> tls, const EndpointConfig& config,
                 ConnectionObserver* observer);
  ~ServerEndpoint();
  ServerEndpoint(const ServerEndpoint&) = delete;
  ServerEndpoint& operator=(const ServerEndpoint&) = delete;

  struct DatagramResult {
    enum class Kind : uint8_t { kDelivered, kAccepted, kReplied, kDropped } kind;
    Connection* connection = nullptr;  // kDelivered, kAccepted
    size_t reply_bytes = 0;            // kReplied: bytes of `reply` to send back to the source
  };
  // `reply` should hold at least 1500 bytes; a shorter buffer suppresses replies.
  DatagramResult on_datagram(const PathAddresses& path, std::span<const uint8_t> datagram,
                             Timestamp now, std::span<uint8_t> reply);

  // Called with every newly accepted connection before it processes its first packet.
  std::function<void(Connection&)> on_accept;

  template <class F>
  void for_each_connection(F&& visit) {
    for (auto& entry : connections_) visit(*entry.conn);
  }
  // Destroys connections in State::kClosed; returns how many.
  size_t reap();
  // Closes every connection with an application error (shutdown); they then drain and reap.
  void close_all(uint64_t app_error, std::string_view reason);

  size_t connection_count() const { return connections_.size(); }
  // Connections still handshaking (cost: at most the number of those, never all connections).
  size_t handshakes_in_progress();
  const EndpointStats& stats() const { return stats_; }
  const std::array<uint8_t, 32>& static_secret() const { return config_.static_secret; }

  // The connection that answers to destination CID `cid`, or nullptr.
  Connection* find(const uint8_t* cid, size_t length) const { return routes_.find(cid, length); }

 private:
  struct Entry {
    std::unique_ptr<Connection> conn;
    CidKey original_dcid;  // the client's first DCID, routed until the connection goes
  };

  DatagramResult accept_initial(const PathAddresses& path, std::span<const uint8_t> datagram,
                                Timestamp now, std::span<uint8_t> reply);
  DatagramResult send_retry(const PathAddresses& path, const ngtcp2_pkt_hd& hd, Timestamp now,
                            std::span<uint8_t> reply);
  DatagramResult send_stateless_reset(const uint8_t* dcid, size_t dcid_len, size_t datagram_len,
                                      std::span<uint8_t> reply);
  DatagramResult send_version_negotiation(const ngtcp2_version_cid& vc, std::span<uint8_t> reply);
  DatagramResult refuse(const ngtcp2_pkt_hd& hd, std::span<uint8_t> reply);

  std::shared_ptr<const TlsContext> tls_;
  EndpointConfig config_;
  ConnectionObserver* observer_;
  std::vector<Entry> connections_;
  // Accepted and perhaps still handshaking (an Initial consults it under Retry::kUnderLoad);
  // pruned of those that finished when it reaches the budget, and at every reap.
  std::vector<Connection*> handshaking_;
  CidTable routes_;  // every CID of every connection, plus each client's original DCID
  EndpointStats stats_;
};

}  // namespace qsse::quic
