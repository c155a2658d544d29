// io/datagram_io.hpp — the narrow, batched datagram interface every transport backend
// implements, so QUIC and pub/sub code never touch sockets.
//
// Backends: the io_uring backend (multishot recvmsg on a provided-buffer ring, GSO sends), a
// portable one (recvmmsg/sendmmsg, GSO/GRO where the kernel has them), an in-memory network
// for tests, and a fault-injecting wrapper (loss, duplication, reordering, delay).
//
// Model: one owner thread calls receive(), send() and wait(). Received datagrams are handed to
// a visitor as views that are valid only during the callback; a GRO batch is split into its
// datagrams by the backend, so the visitor always sees one QUIC datagram at a time. The visitor
// may call send() to reply at once (io_uring then refuses what finds no free send slot); the
// rest of the batch is still delivered. send() takes bursts: each burst is one or more
// datagrams of `segment_size` bytes (the last may be shorter) to one peer, sent with one GSO
// system call where the backend supports it. wake() is the only call another thread may make:
// it ends a wait() early.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include <qsse/result.hpp>

namespace qsse::io {

// Monotonic nanoseconds (CLOCK_MONOTONIC), the engine's only time base.
uint64_t monotonic_ns();

// A socket address (IPv4 or IPv6).
struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* sockaddr_ptr() { return reinterpret_cast<sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  uint16_t port() const;
  // "127.0.0.1:4433" or "[::1]:4433".
  std::string to_string() const;
  bool operator==(const Address& other) const { return equals(other.sockaddr_ptr(), other.length); }
  bool equals(const sockaddr* addr, socklen_t addr_length) const {
    return length == addr_length && std::memcmp(&storage, addr, length) == 0;
  }
  // A copy of `addr` (of at most sizeof(sockaddr_storage) bytes).
  static Address of(const sockaddr* addr, socklen_t addr_length) {
    Address a;
    a.length = std::min<socklen_t>(addr_length, sizeof a.storage);
    std::memcpy(&a.storage, addr, a.length);
    return a;
  }
  // Parses "host:port", "[v6]:port" or ":port" (all IPv4 interfaces); numeric hosts and
  // "localhost" only (no DNS). Errors: a message saying what is wrong.
  [[nodiscard]] static Result<Address, std::string> parse(std::string_view text);
};

struct RxDatagram {
  std::span<const uint8_t> data;
  const Address* remote;
  const Address* local;
};

struct TxBurst {
  const uint8_t* data = nullptr;
  size_t length = 0;
  size_t segment_size = 0;  // == length for a single datagram
  Address remote;
};

// Counters every backend keeps (read on the owner thread).
struct IoStats {
  uint64_t rx_datagrams = 0;
  uint64_t rx_bytes = 0;
  uint64_t rx_syscalls = 0;
  uint64_t rx_truncated = 0;  // datagrams larger than the receive buffer (dropped)
  uint64_t tx_datagrams = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_syscalls = 0;
  uint64_t tx_errors = 0;       // datagrams the kernel refused (dropped, like a lost packet)
  uint64_t tx_would_block = 0;  // send() calls that stopped on a full socket buffer
};

using RxVisitor = std::function<void(const RxDatagram&)>;

class DatagramIo {
 public:
  virtual ~DatagramIo() = default;
  // "io_uring", "portable", "memory", ...
  virtual const char* name() const = 0;
  virtual const Address& local_address() const = 0;
  // Delivers up to `max_datagrams` received datagrams to `visit`; never blocks. Returns how
  // many were delivered.
  virtual size_t receive(size_t max_datagrams, const RxVisitor& visit) = 0;
  // Sends bursts in order; never blocks. Returns how many bursts were handed to the kernel (or
  // dropped as undeliverable, which counts as sent, as on a lossy network). Fewer than
  // bursts.size() means the socket is full: retry the rest after wait().
  virtual size_t send(std::span<const TxBurst> bursts) = 0;
  // Blocks until a datagram may be readable, wake() is called, or `deadline_ns`
  // (monotonic_ns time) has passed. UINT64_MAX waits without a deadline.
  virtual void wait(uint64_t deadline_ns) = 0;
  // Thread-safe: makes the owner's current or next wait() return.
  virtual void wake() = 0;
  virtual const IoStats& stats() const = 0;
  // Whether send() uses UDP generic segmentation offload.
  virtual bool gso() const = 0;
};

// Every backend receives datagrams of up to this many bytes (with GRO, coalesced runs of them up
// to 64 KiB); QUIC's path MTU discovery probes no larger (quic::kMaxRxUdpPayload).
inline constexpr size_t kMaxDatagram = 16'384;

struct UdpOptions {
  Address bind;                  // address to bind; port 0 picks an ephemeral port
  bool reuse_port = false;       // SO_REUSEPORT, for one socket per shard
  bool gso = true;               // use UDP_SEGMENT when the kernel supports it
  bool gro = true;               // use UDP_GRO when the kernel supports it
  int socket_buffer = 32 << 20;  // SO_RCVBUF/SO_SNDBUF request (forced when permitted)
};

enum class Backend : uint8_t { kAuto, kIoUring, kPortable };

// Opens a UDP socket with the requested backend. kAuto tries io_uring and falls back to the
// portable backend when io_uring is unavailable (disabled by sysctl or seccomp); the result's
// name() tells which runs. Errors: a message (address in use, permission, ...).
[[nodiscard]] Result<std::unique_ptr<DatagramIo>, std::string> open_udp(const UdpOptions& options,
                                                                        Backend backend);

// The portable backend alone (recvmmsg/sendmmsg).
[[nodiscard]] Result<std::unique_ptr<DatagramIo>, std::string> open_portable_udp(
    const UdpOptions& options);

}  // namespace qsse::io
