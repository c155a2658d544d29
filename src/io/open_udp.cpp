#include <cstdio>

#include "io/datagram_io.hpp"

namespace qsse::io {

Result<std::unique_ptr<DatagramIo>, std::string> open_udp(const UdpOptions& options,
                                                          Backend backend) {
  switch (backend) {
    case Backend::kPortable:
      return open_portable_udp(options);
    case Backend::kIoUring:
    case Backend::kAuto:
      // The io_uring backend arrives with the engine; until then both resolve to portable.
      return open_portable_udp(options);
  }
  return open_portable_udp(options);
}

}  // namespace qsse::io
