// The io_uring backend: multishot recvmsg into a provided-buffer ring (GRO on), sendmsg with
// UDP_SEGMENT for each burst, one io_uring_submit per send() call, and a multishot poll on an
// eventfd so other threads can wake the owner.
//
// The ring is created lazily by the first call from the owner thread, so that
// IORING_SETUP_SINGLE_ISSUER (and DEFER_TASKRUN where the kernel has it) bind it to the thread
// that drives it, not to the thread that opened the socket. send() copies each burst into one
// of the backend's send slots, because the kernel reads the bytes after send() returns; a full
// set of slots is back-pressure (send returns fewer bursts).
#include <errno.h>
#include <liburing.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "io/datagram_io.hpp"
#include "io/udp_socket.hpp"

namespace qsse::io {

bool io_uring_available();
Result<std::unique_ptr<DatagramIo>, std::string> open_io_uring_udp(const UdpOptions& options);

namespace {

constexpr uint64_t kTagRecv = 1ull << 62;
constexpr uint64_t kTagWake = 2ull << 62;
constexpr uint64_t kTagSend = 3ull << 62;
constexpr uint64_t kTagMask = 3ull << 62;
constexpr uint16_t kBufferGroup = 0;
constexpr unsigned kRingEntries = 512;
constexpr size_t kSendSlots = 128;
constexpr size_t kSendSlotSize = 65536;
constexpr size_t kControlSpace = CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(uint16_t)) + 64;

class IoUringUdp final : public DatagramIo {
 public:
  IoUringUdp(OpenedSocket socket, int wake_fd)
      : fd_(socket.fd),
        wake_fd_(wake_fd),
        local_(socket.local),
        gso_(socket.gso),
        gro_(socket.gro),
        recv_buffer_size_(socket.gro ? 65536 + 512 : kMaxDatagram + 512),
        recv_buffer_count_(socket.gro ? 128 : 256) {}

  ~IoUringUdp() override {
    if (ring_ready_) {
      io_uring_unregister_buf_ring(&ring_, kBufferGroup);
      io_uring_queue_exit(&ring_);
    }
    if (buf_ring_ != nullptr) munmap(buf_ring_, buf_ring_bytes_);
    std::free(recv_buffers_);
    std::free(send_area_);
    close(fd_);
    close(wake_fd_);
  }

  const char* name() const override { return "io_uring"; }
  const Address& local_address() const override { return local_; }
  const IoStats& stats() const override { return stats_; }
  bool gso() const override { return gso_; }

  size_t receive(size_t max_datagrams, const RxVisitor& visit) override {
    ensure_ring();
    if (io_uring_cq_ready(&ring_) == 0 && (setup_flags_ & IORING_SETUP_DEFER_TASKRUN)) {
      io_uring_get_events(&ring_);
    }
    return drain_completions(max_datagrams, &visit);
  }

  size_t send(std::span<const TxBurst> bursts) override {
    ensure_ring();
    size_t queued = 0;
    for (const TxBurst& burst : bursts) {
      if (free_slots_.empty()) {
        // Reap finished sends, unless called from a receive visitor: the completion queue is
        // being walked then, and a nested walk would handle its entries twice.
        if (!draining_) drain_completions(0, nullptr);
        if (free_slots_.empty()) break;
      }
      if (burst.length > kSendSlotSize) {  // larger than one GSO burst may be: refuse it
        ++stats_.tx_errors;
        ++queued;
        continue;
      }
      io_uring_sqe* sqe = get_sqe();
      if (sqe == nullptr) break;
      const uint32_t slot = free_slots_.back();
      free_slots_.pop_back();
      SendSlot& s = slots_[slot];
      std::memcpy(s.data, burst.data, burst.length);
      s.remote = burst.remote;
      s.iov = {s.data, burst.length};
      s.msg = {};
      s.msg.msg_name = &s.remote.storage;
      s.msg.msg_namelen = s.remote.length;
      s.msg.msg_iov = &s.iov;
      s.msg.msg_iovlen = 1;
      s.datagrams = 1;
      s.split = false;
      if (burst.segment_size < burst.length) {
        s.datagrams = (burst.length + burst.segment_size - 1) / burst.segment_size;
        if (gso_) {
          attach_segment_size(s.msg, s.control, burst.segment_size);
        } else {
          // No GSO: one sendmsg per datagram, all from the same slot.
          submit_split(slot, burst.segment_size);
          ++queued;
          continue;
        }
      }
      s.pending = 1;
      io_uring_prep_sendmsg(sqe, fd_, &s.msg, 0);
      io_uring_sqe_set_data64(sqe, kTagSend | slot);
      ++queued;
    }
    if (io_uring_sq_ready(&ring_) > 0) {
      io_uring_submit(&ring_);
      ++stats_.tx_syscalls;
    }
    if (queued < bursts.size()) ++stats_.tx_would_block;
    return queued;
  }

  void wait(uint64_t deadline_ns) override {
    ensure_ring();
    if (io_uring_cq_ready(&ring_) > 0) return;
    io_uring_cqe* cqe = nullptr;
    if (deadline_ns == UINT64_MAX) {
      io_uring_submit_and_wait(&ring_, 1);
      return;
    }
    const uint64_t now = monotonic_ns();
    if (deadline_ns <= now) {
      io_uring_submit(&ring_);
      return;
    }
    const uint64_t left = deadline_ns - now;
    __kernel_timespec ts{static_cast<int64_t>(left / 1'000'000'000u),
                         static_cast<long long>(left % 1'000'000'000u)};
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }

  void wake() override {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t r = write(wake_fd_, &one, sizeof(one));
  }

 private:
  struct SendSlot {
    uint8_t* data = nullptr;
    Address remote;
    iovec iov{};
    msghdr msg{};
    alignas(cmsghdr) uint8_t control[kSegmentControlSize]{};
    uint32_t pending = 0;  // sendmsg operations still in flight for this slot
    size_t datagrams = 0;
    bool split = false;  // sent one datagram per sendmsg
    // Used when a burst is sent one datagram at a time (no GSO).
    std::vector<iovec> split_iov;
    std::vector<msghdr> split_msg;
  };

  io_uring_sqe* get_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      io_uring_submit(&ring_);
      ++stats_.tx_syscalls;
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

  void submit_split(uint32_t slot, size_t segment) {
    SendSlot& s = slots_[slot];
    const size_t length = s.iov.iov_len;
    s.split_iov.resize(s.datagrams);
    s.split_msg.resize(s.datagrams);
    s.split = true;
    s.pending = 0;
    for (size_t i = 0; i < s.datagrams; ++i) {
      io_uring_sqe* sqe = get_sqe();
      if (sqe == nullptr) break;
      const size_t off = i * segment;
      s.split_iov[i] = {s.data + off, std::min(segment, length - off)};
      s.split_msg[i] = s.msg;
      s.split_msg[i].msg_iov = &s.split_iov[i];
      io_uring_prep_sendmsg(sqe, fd_, &s.split_msg[i], 0);
      io_uring_sqe_set_data64(sqe, kTagSend | slot);
      ++s.pending;
    }
    if (s.pending == 0) free_slots_.push_back(slot);
  }

  void ensure_ring() {
    if (ring_ready_) return;
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int rc = io_uring_queue_init_params(kRingEntries, &ring_, &params);
    if (rc == -EINVAL) {  // older kernel: without the task-run flags
      params = {};
      params.flags = IORING_SETUP_COOP_TASKRUN;
      rc = io_uring_queue_init_params(kRingEntries, &ring_, &params);
    }
    if (rc < 0) {
      std::fprintf(stderr, "qsse: io_uring_queue_init failed: %s\n", std::strerror(-rc));
      std::abort();  // open_udp probed io_uring; failing now means the process lost it
    }
    setup_flags_ = params.flags;
    ring_ready_ = true;

    // Provided-buffer ring, registered by hand (liburing 2.3 has no io_uring_setup_buf_ring).
    buf_ring_bytes_ = recv_buffer_count_ * sizeof(io_uring_buf);
    buf_ring_ = static_cast<io_uring_buf_ring*>(
        mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0));
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(buf_ring_);
    reg.ring_entries = static_cast<uint32_t>(recv_buffer_count_);
    reg.bgid = kBufferGroup;
    if (buf_ring_ == MAP_FAILED || io_uring_register_buf_ring(&ring_, &reg, 0) != 0) {
      std::fprintf(stderr, "qsse: io_uring buffer ring registration failed\n");
      std::abort();
    }
    io_uring_buf_ring_init(buf_ring_);
    recv_buffers_ =
        static_cast<uint8_t*>(std::aligned_alloc(4096, recv_buffer_count_ * recv_buffer_size_));
    const int mask = io_uring_buf_ring_mask(static_cast<uint32_t>(recv_buffer_count_));
    for (size_t i = 0; i < recv_buffer_count_; ++i) {
      io_uring_buf_ring_add(buf_ring_, recv_buffers_ + i * recv_buffer_size_,
                            static_cast<unsigned>(recv_buffer_size_), static_cast<uint16_t>(i),
                            mask, static_cast<int>(i));
    }
    io_uring_buf_ring_advance(buf_ring_, static_cast<int>(recv_buffer_count_));

    send_area_ = static_cast<uint8_t*>(std::aligned_alloc(4096, kSendSlots * kSendSlotSize));
    slots_.resize(kSendSlots);
    for (size_t i = 0; i < kSendSlots; ++i) {
      slots_[i].data = send_area_ + i * kSendSlotSize;
      free_slots_.push_back(static_cast<uint32_t>(kSendSlots - 1 - i));
    }
    recv_template_.msg_namelen = sizeof(sockaddr_storage);
    recv_template_.msg_controllen = kControlSpace;
    arm_recv();
    arm_wake();
    io_uring_submit(&ring_);
  }

  void arm_recv() {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_recvmsg_multishot(sqe, fd_, &recv_template_, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(sqe, kTagRecv);
  }

  void arm_wake() {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_multishot(sqe, wake_fd_, POLLIN);
    io_uring_sqe_set_data64(sqe, kTagWake);
  }

  // Processes completions: received datagrams go to `visit` (up to max_datagrams when a
  // visitor is given), finished sends free their slots.
  size_t drain_completions(size_t max_datagrams, const RxVisitor* visit) {
    draining_ = true;
    size_t delivered = 0;
    unsigned seen = 0;
    unsigned head;
    io_uring_cqe* cqe;
    int returned_buffers = 0;
    bool rearm_recv = false, rearm_wake = false;
    const int mask = io_uring_buf_ring_mask(static_cast<uint32_t>(recv_buffer_count_));
    io_uring_for_each_cqe(&ring_, head, cqe) {
      const uint64_t tag = io_uring_cqe_get_data64(cqe) & kTagMask;
      if (tag == kTagRecv && (visit == nullptr || delivered >= max_datagrams)) break;
      ++seen;
      if (tag == kTagSend) {
        const auto slot = static_cast<uint32_t>(io_uring_cqe_get_data64(cqe) & ~kTagMask);
        SendSlot& s = slots_[slot];
        if (cqe->res < 0) {
          if (cqe->res == -EIO && gso_) gso_ = false;  // device cannot segment
          ++stats_.tx_errors;
        } else {
          stats_.tx_datagrams += s.split ? 1 : s.datagrams;
          stats_.tx_bytes += static_cast<uint64_t>(cqe->res);
        }
        if (--s.pending == 0) free_slots_.push_back(slot);
        continue;
      }
      if (tag == kTagWake) {
        uint64_t drained;
        [[maybe_unused]] ssize_t r = read(wake_fd_, &drained, sizeof(drained));
        if (!(cqe->flags & IORING_CQE_F_MORE)) rearm_wake = true;
        continue;
      }
      // kTagRecv
      ++stats_.rx_syscalls;
      if (!(cqe->flags & IORING_CQE_F_MORE)) rearm_recv = true;
      if (cqe->res < 0 || !(cqe->flags & IORING_CQE_F_BUFFER)) continue;  // -ENOBUFS etc.
      const auto bid = static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
      uint8_t* buffer = recv_buffers_ + static_cast<size_t>(bid) * recv_buffer_size_;
      deliver(buffer, cqe->res, *visit, delivered);
      io_uring_buf_ring_add(buf_ring_, buffer, static_cast<unsigned>(recv_buffer_size_), bid, mask,
                            returned_buffers++);
    }
    io_uring_cq_advance(&ring_, seen);
    if (returned_buffers > 0) io_uring_buf_ring_advance(buf_ring_, returned_buffers);
    if (rearm_recv) arm_recv();
    if (rearm_wake) arm_wake();
    if (rearm_recv || rearm_wake) io_uring_submit(&ring_);
    draining_ = false;
    return delivered;
  }

  void deliver(uint8_t* buffer, int length, const RxVisitor& visit, size_t& delivered) {
    io_uring_recvmsg_out* out = io_uring_recvmsg_validate(buffer, length, &recv_template_);
    if (out == nullptr) return;
    if (out->flags & MSG_TRUNC) {
      ++stats_.rx_truncated;
      return;
    }
    remote_.length = std::min<socklen_t>(out->namelen, sizeof(remote_.storage));
    std::memcpy(&remote_.storage, io_uring_recvmsg_name(out), remote_.length);
    size_t segment = 0;
    for (cmsghdr* c = io_uring_recvmsg_cmsg_firsthdr(out, &recv_template_); c != nullptr;
         c = io_uring_recvmsg_cmsg_nexthdr(out, &recv_template_, c)) {
      if (size_t gro = gro_segment_size(c)) segment = gro;
    }
    const auto* payload =
        static_cast<const uint8_t*>(io_uring_recvmsg_payload(out, &recv_template_));
    const size_t total = io_uring_recvmsg_payload_length(out, length, &recv_template_);
    if (segment == 0) segment = total;
    for (size_t off = 0; off < total; off += segment) {
      visit(RxDatagram{{payload + off, std::min(segment, total - off)}, &remote_, &local_});
      ++stats_.rx_datagrams;
      stats_.rx_bytes += std::min(segment, total - off);
      ++delivered;
    }
  }

  int fd_;
  int wake_fd_;
  Address local_;
  Address remote_;
  bool gso_;
  bool gro_;
  size_t recv_buffer_size_;
  size_t recv_buffer_count_;
  bool ring_ready_ = false;
  bool draining_ = false;  // inside drain_completions: a receive visitor may call send()
  unsigned setup_flags_ = 0;
  io_uring ring_{};
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  uint8_t* recv_buffers_ = nullptr;
  uint8_t* send_area_ = nullptr;
  std::vector<SendSlot> slots_;
  std::vector<uint32_t> free_slots_;
  msghdr recv_template_{};
  IoStats stats_;
};

}  // namespace

bool io_uring_available() {
  io_uring probe;
  if (io_uring_queue_init(4, &probe, 0) != 0) return false;
  // Multishot recvmsg with provided buffers needs a 6.0+ kernel: check the opcode list.
  io_uring_probe* ops = io_uring_get_probe_ring(&probe);
  const bool ok = ops != nullptr && io_uring_opcode_supported(ops, IORING_OP_RECVMSG) &&
                  io_uring_opcode_supported(ops, IORING_OP_SENDMSG);
  if (ops != nullptr) io_uring_free_probe(ops);
  io_uring_queue_exit(&probe);
  return ok;
}

Result<std::unique_ptr<DatagramIo>, std::string> open_io_uring_udp(const UdpOptions& options) {
  if (!io_uring_available()) return fail(std::string("io_uring is not available on this system"));
  auto opened = open_socket_and_wake(options);
  if (!opened) return fail(opened.error());
  return std::unique_ptr<DatagramIo>(new IoUringUdp(opened->socket, opened->wake_fd));
}

}  // namespace qsse::io
