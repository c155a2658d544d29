// Writes client Initial datagrams (length-prefixed records) as quic_accept seeds.
// Usage: quic_accept_seeds DIR  (regenerates fuzz/corpus/quic_accept/initial-*)
#include <cstdio>
#include <fstream>
#include "../../tests/quic/memory_link.hpp"
#include "quic/connection.hpp"
using namespace qsse::quic;
struct Nop : ConnectionObserver {
  void on_handshake_completed(Connection&) override {}
  bool on_stream_data(Connection&, int64_t, std::span<const uint8_t>, bool) override {
    return true;
  }
};
int main(int argc, char** argv) {
  if (argc != 2) return 2;
  std::vector<std::vector<std::string>> alpns = {
      {"qsse/1"}, {"PROTOCOL_QUIC"}, {"qsse/1", "PROTOCOL_QUIC"}, {"h3"}};
  int n = 0;
  for (auto& alpn : alpns) {
    ClientTlsOptions o;
    o.insecure_skip_verify = true;
    o.alpn = alpn;
    auto tls = TlsContext::client(o);
    Nop nop;
    Connection::Config c;
    c.observer = &nop;
    auto conn = Connection::connect(*tls, testing::make_path("127.0.0.1", 50000, "127.0.0.1", 4433),
                                    c, kSecond);
    std::vector<uint8_t> buf(64 * 1500);
    Burst b = (*conn)->write(buf, kSecond);
    std::string rec;
    for (size_t off = 0; off < b.bytes; off += b.segment_size) {
      size_t len = std::min(b.segment_size, b.bytes - off);
      rec.push_back(char(len >> 8));
      rec.push_back(char(len & 0xff));
      rec.append((const char*)buf.data() + off, len);
    }
    std::ofstream(std::string(argv[1]) + "/initial-" + std::to_string(n++), std::ios::binary)
        << rec;
    // the same Initial twice (a retransmission) followed by a short-header junk packet
    std::string junk(60, '\x41');
    junk[0] = 0x40;
    std::string rec2 = rec + rec + char(0) + char(junk.size()) + junk;
    std::ofstream(std::string(argv[1]) + "/initial-twice-" + std::to_string(n++), std::ios::binary)
        << rec2;
  }
}
