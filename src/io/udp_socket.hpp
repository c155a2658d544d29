// io/udp_socket.hpp — socket set-up shared by the UDP backends (private to io/).
#pragma once

#include <string>

#include "io/datagram_io.hpp"

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

}  // namespace qsse::io
