// engine/paths.hpp — conversions between the io layer's addresses and the QUIC layer's paths
// (the two layers know nothing of each other; the engine joins them).
#pragma once

#include "io/datagram_io.hpp"
#include "quic/connection.hpp"

namespace qsse::engine {

inline quic::PathAddresses path_of(const io::Address& local, const io::Address& remote) {
  quic::PathAddresses p;
  p.local = local.storage;
  p.local_len = local.length;
  p.remote = remote.storage;
  p.remote_len = remote.length;
  return p;
}

inline io::Address remote_of(const quic::PathAddresses& p) {
  io::Address a;
  a.storage = p.remote;
  a.length = p.remote_len;
  return a;
}

}  // namespace qsse::engine
