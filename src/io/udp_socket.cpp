#include "io/udp_socket.hpp"

#include <errno.h>
#include <netinet/udp.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>

namespace qsse::io {
namespace {

std::string errno_text(const char* call) {
  return std::string(call) + ": " + std::strerror(errno);
}

}  // namespace

Result<OpenedSocket, std::string> open_udp_socket(const UdpOptions& options) {
  if (options.bind.length == 0) return fail(std::string("no bind address given"));
  OpenedSocket s;
  s.fd = socket(options.bind.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd < 0) return fail(errno_text("socket"));
  auto fail_close = [&](const char* call) {
    std::string text = errno_text(call);
    close(s.fd);
    return text;
  };
  const int one = 1;
  if (options.reuse_port && setsockopt(s.fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    return fail(fail_close("setsockopt(SO_REUSEPORT)"));
  }
  // Buffer sizes are requests. With CAP_NET_ADMIN the *FORCE options go past net.core.rmem_max
  // (a receive buffer that overflows while the thread is descheduled loses datagrams, and QUIC
  // then spends an RTT or more recovering); otherwise the kernel caps them, and that is fine.
  const int size = options.socket_buffer;
  if (setsockopt(s.fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0) {
    setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
  if (setsockopt(s.fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0) {
    setsockopt(s.fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  }
  if (options.bind.family() == AF_INET6) {
    const int zero = 0;
    setsockopt(s.fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  }
  if (bind(s.fd, options.bind.sockaddr_ptr(), options.bind.length) != 0) {
    std::string text = "bind " + options.bind.to_string() + ": " + std::strerror(errno);
    close(s.fd);
    return fail(text);
  }
  s.local.length = sizeof(s.local.storage);
  if (getsockname(s.fd, s.local.sockaddr_ptr(), &s.local.length) != 0) {
    return fail(fail_close("getsockname"));
  }
  if (options.gso) {
    // Probe: setting a segment size of 0 on the socket succeeds where UDP_SEGMENT exists.
    int probe = 0;
    s.gso = setsockopt(s.fd, SOL_UDP, UDP_SEGMENT, &probe, sizeof(probe)) == 0;
  }
  if (options.gro) s.gro = setsockopt(s.fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
  return s;
}

Result<int, std::string> open_eventfd() {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return fail(errno_text("eventfd"));
  return fd;
}

Result<SocketAndWake, std::string> open_socket_and_wake(const UdpOptions& options) {
  auto socket = open_udp_socket(options);
  if (!socket) return fail(socket.error());
  auto wake = open_eventfd();
  if (!wake) {
    close(socket->fd);
    return fail(wake.error());
  }
  return SocketAndWake{*socket, *wake};
}

}  // namespace qsse::io
