// The portable backend: recvmmsg/sendmmsg, with GSO (UDP_SEGMENT) and GRO (UDP_GRO) when the
// kernel has them. Used where io_uring is unavailable, and as the baseline in benchmarks.
#include <errno.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "io/datagram_io.hpp"
#include "io/udp_socket.hpp"

namespace qsse::io {
namespace {

constexpr size_t kBatch = 64;
constexpr size_t kGroBufferSize = 65536;
constexpr size_t kPlainBufferSize = kMaxDatagram + 512;

class PortableUdp final : public DatagramIo {
 public:
  PortableUdp(OpenedSocket socket, int wake_fd)
      : fd_(socket.fd),
        wake_fd_(wake_fd),
        local_(socket.local),
        gso_(socket.gso),
        gro_(socket.gro),
        buffer_size_(socket.gro ? kGroBufferSize : kPlainBufferSize),
        buffers_(new uint8_t[kBatch * buffer_size_]) {
  }  // not zeroed: pages stay untouched until used
  ~PortableUdp() override {
    close(fd_);
    close(wake_fd_);
  }

  const char* name() const override { return "portable"; }
  const Address& local_address() const override { return local_; }
  const IoStats& stats() const override { return stats_; }
  bool gso() const override { return gso_; }

  size_t receive(size_t max_datagrams, const RxVisitor& visit) override {
    size_t delivered = 0;
    while (delivered < max_datagrams) {
      const size_t want = std::min(kBatch, max_datagrams - delivered);
      for (size_t i = 0; i < want; ++i) {
        rx_iov_[i] = {buffers_.get() + i * buffer_size_, buffer_size_};
        rx_msgs_[i].msg_hdr = {};
        rx_msgs_[i].msg_hdr.msg_name = &remotes_[i].storage;
        rx_msgs_[i].msg_hdr.msg_namelen = sizeof(remotes_[i].storage);
        rx_msgs_[i].msg_hdr.msg_iov = &rx_iov_[i];
        rx_msgs_[i].msg_hdr.msg_iovlen = 1;
        rx_msgs_[i].msg_hdr.msg_control = rx_control_[i];
        rx_msgs_[i].msg_hdr.msg_controllen = sizeof(rx_control_[i]);
      }
      int n = recvmmsg(fd_, rx_msgs_, static_cast<unsigned>(want), MSG_DONTWAIT, nullptr);
      ++stats_.rx_syscalls;
      if (n <= 0) break;
      for (int i = 0; i < n; ++i) {
        const msghdr& h = rx_msgs_[i].msg_hdr;
        remotes_[i].length = h.msg_namelen;
        if (h.msg_flags & MSG_TRUNC) {
          ++stats_.rx_truncated;
          continue;
        }
        size_t segment = rx_msgs_[i].msg_len;
        for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr;
             c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
          if (size_t gro = gro_segment_size(c)) segment = gro;
        }
        const uint8_t* base = buffers_.get() + static_cast<size_t>(i) * buffer_size_;
        for (size_t off = 0; off < rx_msgs_[i].msg_len; off += segment) {
          size_t len = std::min(segment, rx_msgs_[i].msg_len - off);
          visit(RxDatagram{{base + off, len}, &remotes_[i], &local_});
          ++stats_.rx_datagrams;
          stats_.rx_bytes += len;
          ++delivered;
        }
      }
      if (static_cast<size_t>(n) < want) break;
    }
    return delivered;
  }

  size_t send(std::span<const TxBurst> bursts) override {
    size_t done = 0;
    while (done < bursts.size()) {
      size_t count = 0;
      for (size_t i = done; i < bursts.size() && count < kBatch; ++i) {
        const TxBurst& b = bursts[i];
        // Without GSO a burst of several datagrams goes out as one message per datagram;
        // such bursts are sent alone, one sendmmsg per burst.
        const bool split = !gso_ && b.segment_size < b.length;
        if (split && count > 0) break;
        if (split) {
          size_t k = 0;
          for (size_t off = 0; off < b.length && k < kBatch; off += b.segment_size, ++k) {
            fill(k, b, off, std::min(b.segment_size, b.length - off), false);
          }
          count = k;
          break;
        }
        fill(count, b, 0, b.length, gso_ && b.segment_size < b.length);
        ++count;
      }
      int n = sendmmsg(fd_, tx_msgs_, static_cast<unsigned>(count), MSG_DONTWAIT);
      ++stats_.tx_syscalls;
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
          ++stats_.tx_would_block;
          return done;
        }
        if (errno == EIO && gso_) {
          gso_ = false;  // the device cannot segment: fall back to one message per datagram
          continue;
        }
        // Unreachable peer, bad address: the datagram is lost, as on a real network.
        ++stats_.tx_errors;
        ++done;
        continue;
      }
      const bool split_burst = !gso_ && bursts[done].segment_size < bursts[done].length;
      if (split_burst) {
        stats_.tx_datagrams += static_cast<size_t>(n);
        for (int i = 0; i < n; ++i) stats_.tx_bytes += tx_iov_[i].iov_len;
        if (static_cast<size_t>(n) < count) {
          ++stats_.tx_would_block;
          return done;  // a partly sent burst is resent whole: QUIC tolerates duplicates
        }
        ++done;
        continue;
      }
      for (int i = 0; i < n; ++i) {
        const TxBurst& b = bursts[done + static_cast<size_t>(i)];
        stats_.tx_datagrams += (b.length + b.segment_size - 1) / b.segment_size;
        stats_.tx_bytes += b.length;
      }
      done += static_cast<size_t>(n);
      if (static_cast<size_t>(n) < count) {
        ++stats_.tx_would_block;
        return done;
      }
    }
    return done;
  }

  void wait(uint64_t deadline_ns) override {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    timespec timeout{}, *timeout_ptr = nullptr;
    if (deadline_ns != UINT64_MAX) {
      const uint64_t now = monotonic_ns();
      const uint64_t left = deadline_ns > now ? deadline_ns - now : 0;
      timeout.tv_sec = static_cast<time_t>(left / 1'000'000'000u);
      timeout.tv_nsec = static_cast<long>(left % 1'000'000'000u);
      timeout_ptr = &timeout;
    }
    ppoll(fds, 2, timeout_ptr, nullptr);
    if (fds[1].revents & POLLIN) {
      uint64_t drained;
      [[maybe_unused]] ssize_t r = read(wake_fd_, &drained, sizeof(drained));
    }
  }

  void wake() override {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t r = write(wake_fd_, &one, sizeof(one));
  }

 private:
  void fill(size_t slot, const TxBurst& b, size_t offset, size_t length, bool segment) {
    tx_iov_[slot] = {const_cast<uint8_t*>(b.data) + offset, length};
    msghdr& h = tx_msgs_[slot].msg_hdr;
    h = {};
    h.msg_name = const_cast<sockaddr_storage*>(&b.remote.storage);
    h.msg_namelen = b.remote.length;
    h.msg_iov = &tx_iov_[slot];
    h.msg_iovlen = 1;
    if (segment) attach_segment_size(h, tx_control_[slot], b.segment_size);
  }

  int fd_;
  int wake_fd_;
  Address local_;
  bool gso_;
  bool gro_;
  size_t buffer_size_;
  std::unique_ptr<uint8_t[]> buffers_;
  // Receive and send keep separate message arrays: a visitor may send while receive() still
  // walks the batch (sendmmsg writes msg_len, which bounds the split of a GRO message).
  mmsghdr rx_msgs_[kBatch]{};
  iovec rx_iov_[kBatch]{};
  Address remotes_[kBatch];
  alignas(cmsghdr) uint8_t rx_control_[kBatch][CMSG_SPACE(sizeof(int)) + CMSG_SPACE(64)]{};
  mmsghdr tx_msgs_[kBatch]{};
  iovec tx_iov_[kBatch]{};
  alignas(cmsghdr) uint8_t tx_control_[kBatch][kSegmentControlSize]{};
  IoStats stats_;
};

}  // namespace

Result<std::unique_ptr<DatagramIo>, std::string> open_portable_udp(const UdpOptions& options) {
  auto opened = open_socket_and_wake(options);
  if (!opened) return fail(opened.error());
  return std::unique_ptr<DatagramIo>(new PortableUdp(opened->socket, opened->wake_fd));
}

}  // namespace qsse::io
