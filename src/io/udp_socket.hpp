// io/udp_socket.hpp — socket set-up shared by the UDP backends (private to io/).
#pragma once

#include <netinet/udp.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "io/datagram_io.hpp"

// Older libc headers lack the UDP offload options (Linux 4.18+ and 5.0+).
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace qsse::io {

struct OpenedSocket {
  int fd = -1;
  Address local;
  bool gso = false;  // UDP_SEGMENT usable
  bool gro = false;  // UDP_GRO enabled
};

// Creates a non-blocking UDP socket bound to options.bind with the requested options.
// Errors: a message naming the failed call and errno text.
[[nodiscard]] Result<OpenedSocket, std::string> open_udp_socket(const UdpOptions& options);

// An eventfd for wake-ups. Errors: a message.
[[nodiscard]] Result<int, std::string> open_eventfd();

// The socket and the wake-up eventfd a backend needs, or the first error (nothing leaks).
struct SocketAndWake {
  OpenedSocket socket;
  int wake_fd = -1;
};
[[nodiscard]] Result<SocketAndWake, std::string> open_socket_and_wake(const UdpOptions& options);

// Bytes of control space a UDP_SEGMENT cmsg takes.
inline constexpr size_t kSegmentControlSize = CMSG_SPACE(sizeof(uint16_t));

// Attaches a UDP_SEGMENT (GSO) cmsg to `msg`, using `control` (kSegmentControlSize bytes,
// cmsghdr-aligned): the kernel cuts the payload into datagrams of `segment_size` bytes.
inline void attach_segment_size(msghdr& msg, void* control, size_t segment_size) {
  msg.msg_control = control;
  msg.msg_controllen = kSegmentControlSize;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  const auto size = static_cast<uint16_t>(segment_size);
  std::memcpy(CMSG_DATA(c), &size, sizeof(size));
}

// The GRO segment size carried by `c`, or 0 if it is another cmsg.
inline size_t gro_segment_size(const cmsghdr* c) {
  if (c->cmsg_level != SOL_UDP || c->cmsg_type != UDP_GRO) return 0;
  int size;
  std::memcpy(&size, CMSG_DATA(c), sizeof(size));
  return size > 0 ? static_cast<size_t>(size) : 0;
}

}  // namespace qsse::io
