#include "quic/endpoint.hpp"

#include <sys/random.h>

#include <ngtcp2/ngtcp2_crypto.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace qsse::quic {
namespace {

constexpr size_t kMinInitialDatagram = 1200;  // RFC 9000 §14.1
// A Stateless Reset must look like a short-header packet: 1 byte + >=5 random + 16 token, and
// we only answer datagrams big enough that our answer can be strictly smaller.
constexpr size_t kMinStatelessReset = 1 + 20 + NGTCP2_STATELESS_RESET_TOKENLEN;

void random_bytes(uint8_t* dest, size_t length) {
  while (length > 0) {
    ssize_t n = getrandom(dest, length, 0);
    if (n <= 0) continue;
    dest += n;
    length -= static_cast<size_t>(n);
  }
}

}  // namespace

ServerEndpoint::ServerEndpoint(std::shared_ptr<const TlsContext> tls, const EndpointConfig& config,
                               ConnectionObserver* observer)
    : tls_(std::move(tls)), config_(config), observer_(observer) {
  const bool zero = std::all_of(config_.static_secret.begin(), config_.static_secret.end(),
                                [](uint8_t b) { return b == 0; });
  if (zero) random_bytes(config_.static_secret.data(), config_.static_secret.size());
}

ServerEndpoint::~ServerEndpoint() {
  // Destroy connections first: their destructors unregister CIDs from routes_.
  connections_.clear();
}

size_t ServerEndpoint::handshakes_in_progress() {
  std::erase_if(handshaking_,
                [](const Connection* c) { return c->state() != Connection::State::kHandshaking; });
  return handshaking_.size();
}

ServerEndpoint::DatagramResult ServerEndpoint::on_datagram(const PathAddresses& path,
                                                           std::span<const uint8_t> datagram,
                                                           Timestamp now,
                                                           std::span<uint8_t> reply) {
  ++stats_.datagrams;
  if (datagram.empty()) {  // ngtcp2's decoder requires at least one byte
    ++stats_.dropped_malformed;
    return {DatagramResult::Kind::kDropped};
  }
  ngtcp2_version_cid vc;
  int rc = ngtcp2_pkt_decode_version_cid(&vc, datagram.data(), datagram.size(), kCidLength);
  if (rc == NGTCP2_ERR_VERSION_NEGOTIATION) return send_version_negotiation(vc, reply);
  if (rc != 0) {
    ++stats_.dropped_malformed;
    return {DatagramResult::Kind::kDropped};
  }
  if (Connection* conn = routes_.find(vc.dcid, vc.dcidlen)) {
    conn->read_datagram(path, datagram, now);
    return {DatagramResult::Kind::kDelivered, conn};
  }
  const bool long_header = (datagram[0] & 0x80) != 0;
  if (!long_header) return send_stateless_reset(vc.dcid, vc.dcidlen, datagram.size(), reply);
  return accept_initial(path, datagram, now, reply);
}

ServerEndpoint::DatagramResult ServerEndpoint::accept_initial(const PathAddresses& path,
                                                              std::span<const uint8_t> datagram,
                                                              Timestamp now,
                                                              std::span<uint8_t> reply) {
  if (datagram.size() < kMinInitialDatagram) {
    ++stats_.dropped_unknown;
    return {DatagramResult::Kind::kDropped};
  }
  ngtcp2_pkt_hd hd;
  if (ngtcp2_accept(&hd, datagram.data(), datagram.size()) != 0) {
    ++stats_.dropped_unknown;  // 0-RTT or Handshake for a connection we do not have, or junk
    return {DatagramResult::Kind::kDropped};
  }
  if (connections_.size() >= config_.max_connections) return refuse(hd, reply);

  ngtcp2_cid original_dcid;
  const ngtcp2_cid* retry_odcid = nullptr;
  if (hd.tokenlen > 0 && hd.token[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY) {
    const auto* remote = reinterpret_cast<const ngtcp2_sockaddr*>(&path.remote);
    if (ngtcp2_crypto_verify_retry_token(&original_dcid, hd.token, hd.tokenlen,
                                         config_.static_secret.data(), config_.static_secret.size(),
                                         hd.version, remote, path.remote_len, &hd.dcid,
                                         config_.retry_token_lifetime, now) != 0) {
      ++stats_.dropped_invalid_token;
      return {DatagramResult::Kind::kDropped};
    }
    retry_odcid = &original_dcid;
  } else {
    const bool want_retry = config_.retry == EndpointConfig::Retry::kAlways ||
                            (config_.retry == EndpointConfig::Retry::kUnderLoad &&
                             handshaking_.size() >= config_.handshake_budget &&
                             handshakes_in_progress() >= config_.handshake_budget);
    if (want_retry) return send_retry(path, hd, now, reply);
  }

  Connection::Config conn_config;
  conn_config.transport = config_.transport;
  conn_config.shard_id = config_.shard_id;
  conn_config.static_secret = config_.static_secret.data();
  conn_config.cid_registry = &routes_;
  conn_config.observer = observer_;
  auto conn = Connection::accept(tls_, path, hd, retry_odcid, conn_config, now);
  if (!conn) {
    ++stats_.accept_failed;
    return {DatagramResult::Kind::kDropped};
  }
  Connection* raw = conn->get();
  CidKey odcid = CidKey::of(hd.dcid.data, hd.dcid.datalen);
  routes_.add(odcid, *raw);
  connections_.push_back(Entry{std::move(*conn), odcid});
  handshaking_.push_back(raw);
  ++stats_.accepted;
  if (on_accept) on_accept(*raw);
  raw->read_datagram(path, datagram, now);
  return {DatagramResult::Kind::kAccepted, raw};
}

ServerEndpoint::DatagramResult ServerEndpoint::send_retry(const PathAddresses& path,
                                                          const ngtcp2_pkt_hd& hd, Timestamp now,
                                                          std::span<uint8_t> reply) {
  if (reply.size() < NGTCP2_MAX_UDP_PAYLOAD_SIZE) return {DatagramResult::Kind::kDropped};
  ngtcp2_cid retry_scid;
  retry_scid.datalen = kCidLength;
  random_bytes(retry_scid.data, retry_scid.datalen);
  retry_scid.data[0] = config_.shard_id;
  uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
  const auto* remote = reinterpret_cast<const ngtcp2_sockaddr*>(&path.remote);
  ngtcp2_ssize token_len = ngtcp2_crypto_generate_retry_token(
      token, config_.static_secret.data(), config_.static_secret.size(), hd.version, remote,
      path.remote_len, &retry_scid, &hd.dcid, now);
  if (token_len < 0) return {DatagramResult::Kind::kDropped};
  ngtcp2_ssize n =
      ngtcp2_crypto_write_retry(reply.data(), reply.size(), hd.version, &hd.scid, &retry_scid,
                                &hd.dcid, token, static_cast<size_t>(token_len));
  if (n <= 0) return {DatagramResult::Kind::kDropped};
  ++stats_.retries_sent;
  return {DatagramResult::Kind::kReplied, nullptr, static_cast<size_t>(n)};
}

ServerEndpoint::DatagramResult ServerEndpoint::send_stateless_reset(const uint8_t* dcid,
                                                                    size_t dcid_len,
                                                                    size_t datagram_len,
                                                                    std::span<uint8_t> reply) {
  if (datagram_len <= kMinStatelessReset || dcid_len == 0 || reply.size() < datagram_len) {
    ++stats_.dropped_unknown;
    return {DatagramResult::Kind::kDropped};
  }
  ngtcp2_cid cid;
  ngtcp2_cid_init(&cid, dcid, dcid_len);
  uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
  if (ngtcp2_crypto_generate_stateless_reset_token(token, config_.static_secret.data(),
                                                   config_.static_secret.size(), &cid) != 0) {
    ++stats_.dropped_unknown;
    return {DatagramResult::Kind::kDropped};
  }
  const size_t total = std::min<size_t>(datagram_len - 1, 64);
  const size_t rand_len = total - 1 - NGTCP2_STATELESS_RESET_TOKENLEN;
  uint8_t rand[64];
  random_bytes(rand, rand_len);
  ngtcp2_ssize n =
      ngtcp2_pkt_write_stateless_reset(reply.data(), reply.size(), token, rand, rand_len);
  if (n <= 0) {
    ++stats_.dropped_unknown;
    return {DatagramResult::Kind::kDropped};
  }
  ++stats_.stateless_resets_sent;
  return {DatagramResult::Kind::kReplied, nullptr, static_cast<size_t>(n)};
}

ServerEndpoint::DatagramResult ServerEndpoint::send_version_negotiation(
    const ngtcp2_version_cid& vc, std::span<uint8_t> reply) {
  // Only a datagram the size of a client Initial deserves an answer (anti-amplification).
  if (reply.size() < NGTCP2_MAX_UDP_PAYLOAD_SIZE) return {DatagramResult::Kind::kDropped};
  uint8_t unused;
  random_bytes(&unused, 1);
  const uint32_t versions[] = {NGTCP2_PROTO_VER_V1};
  ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation(
      reply.data(), reply.size(), unused, vc.scid, vc.scidlen, vc.dcid, vc.dcidlen, versions, 1);
  if (n <= 0) return {DatagramResult::Kind::kDropped};
  ++stats_.version_negotiations_sent;
  return {DatagramResult::Kind::kReplied, nullptr, static_cast<size_t>(n)};
}

ServerEndpoint::DatagramResult ServerEndpoint::refuse(const ngtcp2_pkt_hd& hd,
                                                      std::span<uint8_t> reply) {
  ++stats_.refused;
  if (reply.size() < NGTCP2_MAX_UDP_PAYLOAD_SIZE) return {DatagramResult::Kind::kDropped};
  // Initial keys derive from the client's original DCID, which the reply uses as its SCID.
  ngtcp2_ssize n =
      ngtcp2_crypto_write_connection_close(reply.data(), reply.size(), hd.version, &hd.scid,
                                           &hd.dcid, NGTCP2_CONNECTION_REFUSED, nullptr, 0);
  if (n <= 0) return {DatagramResult::Kind::kDropped};
  return {DatagramResult::Kind::kReplied, nullptr, static_cast<size_t>(n)};
}

size_t ServerEndpoint::reap() {
  (void)handshakes_in_progress();  // forgets the closed ones before they are destroyed
  size_t removed = 0;
  for (size_t i = 0; i < connections_.size();) {
    if (connections_[i].conn->state() != Connection::State::kClosed) {
      ++i;
      continue;
    }
    routes_.remove(connections_[i].original_dcid);
    std::swap(connections_[i], connections_.back());
    connections_.pop_back();  // the destructor unregisters the connection's own CIDs
    ++removed;
  }
  return removed;
}

void ServerEndpoint::close_all(uint64_t app_error, std::string_view reason) {
  for (auto& entry : connections_) entry.conn->close(app_error, reason);
}

}  // namespace qsse::quic
