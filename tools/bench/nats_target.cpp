// The NATS side of qsse-bench: a nats-server started on a free loopback port (and stopped by
// PID), K subscriber connections through the NATS C client driven by C epoll loops (the
// library's external event loop interface: no reader thread per connection, messages taken
// from a synchronous subscription right after each read), and P publisher connections.
#include <fcntl.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "driver.hpp"
#include "payload.hpp"
#include "probe.hpp"

namespace qsse::bench {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSequenceMask = (uint64_t{1} << kPublisherShift) - 1;

std::string find_nats_server(const std::string& configured) {
  if (!configured.empty()) return access(configured.c_str(), X_OK) == 0 ? configured : "";
  std::string path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/usr/local/sbin:/usr/bin";
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find(':', begin);
    if (end == std::string::npos) end = path.size();
    const std::string candidate = path.substr(begin, end - begin) + "/nats-server";
    if (end > begin && access(candidate.c_str(), X_OK) == 0) return candidate;
    begin = end + 1;
  }
  return "";
}

uint16_t free_tcp_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(a);
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

bool port_accepts(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

std::string status_text(natsStatus s) {
  const char* last = nats_GetLastError(nullptr);
  return std::string(natsStatus_GetText(s)) +
         (last != nullptr && *last ? std::string(": ") + last : "");
}

struct Loop;

// One subscriber connection; its address is the "event loop" handed to the NATS library.
struct NatsSubscriber {
  size_t index = 0;
  Loop* loop = nullptr;
  std::atomic<natsConnection*> nc{nullptr};
  std::atomic<natsSubscription*> sub{nullptr};
  std::mutex mutex;  // fd and events (the library calls in from several threads)
  int fd = -1;
  uint32_t events = 0;
};

struct Loop {
  int epoll_fd = -1;
  std::thread thread;
  std::atomic<pid_t> tid{0};
  std::atomic<bool> stop{false};
  ReceiverThread* stats = nullptr;
};

void update_events(NatsSubscriber& s, uint32_t flag, bool add) {
  std::lock_guard lock(s.mutex);
  if (s.fd < 0) return;
  s.events = add ? (s.events | flag) : (s.events & ~flag);
  epoll_event ev{};
  ev.events = s.events;
  ev.data.ptr = &s;
  epoll_ctl(s.loop->epoll_fd, EPOLL_CTL_MOD, s.fd, &ev);
}

natsStatus on_attach(void** user_data, void* loop, natsConnection* nc, natsSock socket) {
  auto* s = static_cast<NatsSubscriber*>(loop);
  std::lock_guard lock(s->mutex);
  s->nc = nc;
  s->fd = socket;
  s->events = EPOLLIN;  // attaching means "start polling for reads" (the library's contract)
  epoll_event ev{};
  ev.events = s->events;
  ev.data.ptr = s;
  if (epoll_ctl(s->loop->epoll_fd, EPOLL_CTL_ADD, socket, &ev) != 0) return NATS_ERR;
  *user_data = s;
  return NATS_OK;
}
natsStatus on_read(void* user_data, bool add) {
  update_events(*static_cast<NatsSubscriber*>(user_data), EPOLLIN, add);
  return NATS_OK;
}
natsStatus on_write(void* user_data, bool add) {
  update_events(*static_cast<NatsSubscriber*>(user_data), EPOLLOUT, add);
  return NATS_OK;
}
natsStatus on_detach(void* user_data) {
  auto* s = static_cast<NatsSubscriber*>(user_data);
  std::lock_guard lock(s->mutex);
  if (s->fd >= 0) epoll_ctl(s->loop->epoll_fd, EPOLL_CTL_DEL, s->fd, nullptr);
  s->fd = -1;
  return NATS_OK;
}

class NatsTarget final : public Target {
 public:
  ~NatsTarget() override {
    stop_subscribers();
    stop();
  }
  std::string name() const override { return "nats"; }
  bool server_in_process() const override { return false; }

  Result<void, std::string> start(const Scenario& s, Receivers& receivers) override {
    scenario_ = s;
    receivers_ = &receivers;
    for (size_t t = 0; t < s.topics; ++t) topics_.push_back("bench." + std::to_string(t));
    if (auto started = start_server(); !started) return started;
    if (natsStatus st = nats_Open(-1); st != NATS_OK) return fail("nats_Open: " + status_text(st));
    const std::string url = "nats://127.0.0.1:" + std::to_string(port_);

    for (size_t c = 0; c < receivers.thread_count(); ++c) {
      auto loop = std::make_unique<Loop>();
      loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
      loop->stats = &receivers.thread(c);
      loops_.push_back(std::move(loop));
    }
    for (auto& loop : loops_) {
      Loop* l = loop.get();
      l->thread = std::thread([this, l] { loop_main(*l); });
    }

    for (size_t i = 0; i < s.subscribers; ++i) {
      auto sub = std::make_unique<NatsSubscriber>();
      sub->index = i;
      sub->loop = loops_[i % loops_.size()].get();
      NatsSubscriber* raw = sub.get();
      subscribers_.push_back(std::move(sub));
      natsOptions* opts = nullptr;
      natsStatus st = natsOptions_Create(&opts);
      if (st == NATS_OK) st = natsOptions_SetURL(opts, url.c_str());
      if (st == NATS_OK) st = natsOptions_SetAllowReconnect(opts, false);
      if (st == NATS_OK)
        st = natsOptions_SetEventLoop(opts, raw, on_attach, on_read, on_write, on_detach);
      if (st == NATS_OK) st = natsOptions_SetErrorHandler(opts, on_async_error, this);
      if (st == NATS_OK) st = natsOptions_SetClosedCB(opts, on_closed, this);
      natsConnection* nc = nullptr;
      if (st == NATS_OK) st = natsConnection_Connect(&nc, opts);
      natsOptions_Destroy(opts);
      if (st != NATS_OK) return fail("subscriber connect: " + status_text(st));
      raw->nc = nc;
      const uint32_t topic = s.topic_of(i);
      const std::string subject = topic == kAllTopics ? "bench.*" : topics_[topic];
      natsSubscription* sub_handle = nullptr;
      st = natsConnection_SubscribeSync(&sub_handle, nc, subject.c_str());
      if (st == NATS_OK) st = natsSubscription_SetPendingLimits(sub_handle, -1, -1);
      if (st != NATS_OK) return fail("subscribe: " + status_text(st));
      raw->sub.store(sub_handle, std::memory_order_release);
      if (g_interrupted) return fail(std::string("interrupted"));
    }
    for (auto& sub : subscribers_) {
      if (natsStatus st = natsConnection_FlushTimeout(sub->nc, 10'000); st != NATS_OK)
        return fail("subscriber flush: " + status_text(st));
    }

    for (size_t p = 0; p < s.publishers; ++p) {
      natsOptions* opts = nullptr;
      natsStatus st = natsOptions_Create(&opts);
      if (st == NATS_OK) st = natsOptions_SetURL(opts, url.c_str());
      if (st == NATS_OK) st = natsOptions_SetAllowReconnect(opts, false);
      // Fixed rate: send each message at once (latency); max rate: let the library batch.
      if (st == NATS_OK) st = natsOptions_SetSendAsap(opts, s.rate != 0);
      if (st == NATS_OK) st = natsOptions_SetErrorHandler(opts, on_async_error, this);
      natsConnection* nc = nullptr;
      if (st == NATS_OK) st = natsConnection_Connect(&nc, opts);
      natsOptions_Destroy(opts);
      if (st != NATS_OK) return fail("publisher connect: " + status_text(st));
      publishers_.push_back(nc);
    }
    return {};
  }

  Publish publish(size_t publisher, uint32_t topic, std::span<const uint8_t> payload) override {
    const natsStatus st = natsConnection_Publish(publishers_[publisher], topics_[topic].c_str(),
                                                 payload.data(), static_cast<int>(payload.size()));
    if (st == NATS_OK) return Publish::kOk;
    set_failure("publish: " + status_text(st));
    return Publish::kFailed;
  }

  void flush_publishers() override {
    for (natsConnection* nc : publishers_) (void)natsConnection_FlushTimeout(nc, 5'000);
  }

  Probe probe() override {
    Probe p;
    if (server_pid_ > 0) p.server_cpu_ns = other_process_cpu_ns(server_pid_);
    for (auto& loop : loops_) {
      if (pid_t tid = loop->tid.load(); tid != 0) p.subscriber_cpu_ns += thread_cpu_ns(tid);
    }
    for (auto& sub : subscribers_) {
      std::lock_guard lock(sub->mutex);
      uint64_t rx = 0, tx = 0;
      if (sub->fd >= 0 && tcp_bytes(sub->fd, rx, tx)) {
        p.wire_rx += rx;
        p.wire_tx += tx;
      }
    }
    return p;
  }

  uint64_t server_peak_rss() override { return server_pid_ > 0 ? peak_rss_bytes(server_pid_) : 0; }
  void reset_server_peak_rss() override {
    if (server_pid_ > 0) (void)reset_peak_rss(server_pid_);
  }

  std::string failure() const override {
    std::lock_guard lock(mutex_);
    return failure_;
  }

  void stop_subscribers() override {
    stopping_ = true;
    for (auto& sub : subscribers_) {
      if (natsSubscription* s = sub->sub.load()) {
        int64_t dropped = 0;
        if (natsSubscription_GetDropped(s, &dropped) == NATS_OK && dropped > 0)
          drops_ += static_cast<uint64_t>(dropped);
      }
    }
    // Close while the loops still run: closing flushes through the event loop, and waits (with
    // a timeout per connection) when nobody processes write events.
    for (auto& sub : subscribers_) {
      if (natsConnection* nc = sub->nc.load()) natsConnection_Close(nc);
    }
    for (auto& loop : loops_) {
      loop->stop = true;
      if (loop->thread.joinable()) loop->thread.join();
    }
    for (auto& sub : subscribers_) {
      if (natsSubscription* s = sub->sub.exchange(nullptr)) natsSubscription_Destroy(s);
      if (natsConnection* nc = sub->nc.exchange(nullptr)) natsConnection_Destroy(nc);
    }
  }

  uint64_t client_drops() override { return drops_; }
  uint64_t extra_errors() const override { return async_errors_.load(); }

  void stop() override {
    stop_subscribers();
    for (natsConnection* nc : publishers_) {
      natsConnection_Close(nc);
      natsConnection_Destroy(nc);
    }
    publishers_.clear();
    subscribers_.clear();
    for (auto& loop : loops_) {
      if (loop->epoll_fd >= 0) close(loop->epoll_fd);
      loop->epoll_fd = -1;
    }
    loops_.clear();
    stop_server();
  }

  std::string notes() const override {
    std::string errors;
    if (async_errors_ > 0) {
      errors =
          "; " + std::to_string(async_errors_.load()) + " client error(s), first: " + first_error();
    }
    return "nats-server " + binary_ + " on 127.0.0.1:" + std::to_string(port_) +
           " (max_pending 256 MiB); subscribers on " + std::to_string(loops_.size()) +
           " epoll loop(s); wire bytes: TCP payload at the subscribers' sockets" + errors;
  }

 private:
  static void on_async_error(natsConnection*, natsSubscription*, natsStatus err, void* closure) {
    auto* self = static_cast<NatsTarget*>(closure);
    if (self->stopping_) return;
    self->async_errors_.fetch_add(1);
    self->note_error("asynchronous error: " + std::string(natsStatus_GetText(err)));
  }
  static void on_closed(natsConnection*, void* closure) {
    auto* self = static_cast<NatsTarget*>(closure);
    if (self->stopping_) return;
    self->async_errors_.fetch_add(1);
    self->note_error("a subscriber connection was closed by the server");
    if (self->closed_.fetch_add(1) + 1 == self->scenario_.subscribers)
      self->set_failure("every NATS subscriber connection was closed: " + self->first_error());
  }

  void note_error(std::string what) {
    std::lock_guard lock(mutex_);
    if (first_error_.empty()) first_error_ = std::move(what);
  }
  std::string first_error() const {
    std::lock_guard lock(mutex_);
    return first_error_;
  }

  void set_failure(std::string what) {
    std::lock_guard lock(mutex_);
    if (failure_.empty()) failure_ = std::move(what);
  }

  void loop_main(Loop& loop) {
    loop.tid = current_tid();
    epoll_event events[64];
    while (!loop.stop.load(std::memory_order_relaxed)) {
      const int n = epoll_wait(loop.epoll_fd, events, 64, 20);
      for (int i = 0; i < n; ++i) {
        auto* s = static_cast<NatsSubscriber*>(events[i].data.ptr);
        natsConnection* nc = s->nc.load(std::memory_order_acquire);
        if (nc == nullptr) continue;
        if ((events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
          natsConnection_ProcessReadEvent(nc);
          take_messages(loop, *s);
        }
        if ((events[i].events & EPOLLOUT) != 0) natsConnection_ProcessWriteEvent(nc);
      }
    }
  }

  void take_messages(Loop& loop, NatsSubscriber& s) {
    natsSubscription* sub = s.sub.load(std::memory_order_acquire);
    if (sub == nullptr) return;
    SubscriberTrack& track = receivers_->subscriber(s.index);
    const size_t publishers = scenario_.publishers;
    const uint64_t now = now_ns();
    natsMsg* msg = nullptr;
    while (natsSubscription_NextMsg(&msg, sub, 0) == NATS_OK) {
      const char* subject = natsMsg_GetSubject(msg);
      const uint32_t topic = parse_topic_index(subject, std::strlen(subject));
      const std::span<const uint8_t> data(reinterpret_cast<const uint8_t*>(natsMsg_GetData(msg)),
                                          static_cast<size_t>(natsMsg_GetDataLength(msg)));
      const uint64_t sequence = payload_sequence(data);
      const uint64_t publisher = sequence >> kPublisherShift;
      if (topic >= scenario_.topics || publisher >= publishers) {
        loop.stats->unknown.add();
      } else {
        Receivers::on_event(*loop.stats, track, topic * publishers + publisher,
                            sequence & kSequenceMask, payload_sent_ns(data), now);
      }
      natsMsg_Destroy(msg);
    }
  }

  Result<void, std::string> start_server() {
    binary_ = find_nats_server(scenario_.nats_server);
    if (binary_.empty())
      return fail(std::string("nats-server not found (PATH, /usr/sbin; or --nats-server)"));
    char dir_template[] = "/tmp/qsse-bench-nats-XXXXXX";
    if (mkdtemp(dir_template) == nullptr) return fail(std::string("mkdtemp failed"));
    dir_ = dir_template;
    port_ = free_tcp_port();
    if (port_ == 0) return fail(std::string("no free TCP port on 127.0.0.1"));
    const std::string config = dir_ + "/nats.conf";
    {
      std::ofstream out(config);
      // max_pending above the default 64 MiB: a subscriber may be up to the window (65,536
      // events of 1 KiB = 64 MiB plus protocol) behind without the server cutting it off.
      out << "listen: 127.0.0.1:" << port_ << "\nmax_pending: 268435456\nmax_payload: 1048576\n";
    }
    log_ = dir_ + "/nats.log";
    std::vector<std::string> args = {binary_, "-c", config};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // fork + exec rather than posix_spawn, for PR_SET_PDEATHSIG: if qsse-bench dies without
    // stopping it (a crash, SIGKILL), the kernel stops the server too. Only async-signal-safe
    // calls between fork and exec.
    const int log_fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log_fd < 0 || null_fd < 0) return fail("cannot open " + log_);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(127);  // the parent died before prctl
      dup2(null_fd, 0);
      dup2(log_fd, 1);
      dup2(log_fd, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(log_fd);
    close(null_fd);
    if (pid < 0) return fail("cannot start " + binary_ + ": " + std::strerror(errno));
    server_pid_ = pid;
    const uint64_t deadline = now_ns() + 5'000 * kMs;
    while (!port_accepts(port_)) {
      int status = 0;
      if (waitpid(server_pid_, &status, WNOHANG) == server_pid_) {
        server_pid_ = 0;
        return fail("nats-server exited at start-up: " + log_tail());
      }
      if (now_ns() > deadline) return fail("nats-server did not listen within 5 s: " + log_tail());
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return {};
  }

  std::string log_tail() const {
    std::ifstream in(log_);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return text.size() > 600 ? text.substr(text.size() - 600) : text;
  }

  void stop_server() {
    if (server_pid_ > 0) {
      kill(server_pid_, SIGTERM);
      const uint64_t deadline = now_ns() + 3'000 * kMs;
      int status = 0;
      while (waitpid(server_pid_, &status, WNOHANG) == 0) {
        if (now_ns() > deadline) {
          kill(server_pid_, SIGKILL);
          waitpid(server_pid_, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      server_pid_ = 0;
    }
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
      dir_.clear();
    }
  }

  Scenario scenario_;
  Receivers* receivers_ = nullptr;
  std::vector<std::string> topics_;
  std::string binary_, dir_, log_;
  uint16_t port_ = 0;
  pid_t server_pid_ = 0;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::unique_ptr<NatsSubscriber>> subscribers_;
  std::vector<natsConnection*> publishers_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> async_errors_{0};
  std::atomic<size_t> closed_{0};
  uint64_t drops_ = 0;
  mutable std::mutex mutex_;
  std::string failure_;
  std::string first_error_;
};

}  // namespace

std::unique_ptr<Target> make_nats_target() {
  return std::make_unique<NatsTarget>();
}

void close_nats_library() {
  nats_Close();
}

}  // namespace qsse::bench
