#include <cstdio>

#include "io/datagram_io.hpp"

namespace qsse::io {

bool io_uring_available();
Result<std::unique_ptr<DatagramIo>, std::string> open_io_uring_udp(const UdpOptions& options);

Result<std::unique_ptr<DatagramIo>, std::string> open_udp(const UdpOptions& options,
                                                          Backend backend) {
  switch (backend) {
    case Backend::kPortable:
      return open_portable_udp(options);
    case Backend::kIoUring:
      return open_io_uring_udp(options);
    case Backend::kAuto:
      break;
  }
  if (io_uring_available()) return open_io_uring_udp(options);
  static bool logged = false;
  if (!logged) {
    logged = true;
    std::fprintf(stderr,
                 "qsse: io_uring unavailable (kernel.io_uring_disabled or seccomp); "
                 "using the portable recvmmsg/sendmmsg backend\n");
  }
  return open_portable_udp(options);
}

}  // namespace qsse::io
