// tools/cli/cli_support.hpp — pieces shared by qsse-server and qsse-sub: waiting for a signal, a
// wake-up or a deadline in one call, and writing a file so readers never see half of it.
//
// Signals: SignalWatch blocks SIGINT and SIGTERM and receives them through a signalfd. Create it
// in main() before any thread starts (the engine's shard threads, civetweb's workers), so that
// every thread inherits the blocked mask and the signal can only arrive through the descriptor.
//
// Thread safety: Wakeup::notify() may be called from any thread; everything else belongs to the
// thread that created the object.
#pragma once

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

namespace qsse::cli {

using Clock = std::chrono::steady_clock;

class SignalWatch {
 public:
  // Throws std::runtime_error if the signalfd cannot be created (start-up failure).
  SignalWatch() {
    sigemptyset(&mask_);
    sigaddset(&mask_, SIGINT);
    sigaddset(&mask_, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &mask_, nullptr) != 0) {
      throw std::runtime_error("cannot block SIGINT/SIGTERM");
    }
    fd_ = signalfd(-1, &mask_, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd_ < 0) throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
  }
  ~SignalWatch() { close(fd_); }
  SignalWatch(const SignalWatch&) = delete;
  SignalWatch& operator=(const SignalWatch&) = delete;

  int fd() const { return fd_; }
  // The pending signal's number, or 0 if none is pending.
  int take() {
    signalfd_siginfo info{};
    if (read(fd_, &info, sizeof(info)) != static_cast<ssize_t>(sizeof(info))) return 0;
    return static_cast<int>(info.ssi_signo);
  }

 private:
  sigset_t mask_{};
  int fd_ = -1;
};

// A counter another thread bumps to wake the waiting thread (an eventfd).
class Wakeup {
 public:
  Wakeup() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (fd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  }
  ~Wakeup() { close(fd_); }
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  void notify() const {
    const uint64_t one = 1;
    (void)!write(fd_, &one, sizeof(one));
  }
  int fd() const { return fd_; }
  void drain() const {
    uint64_t value = 0;
    (void)!read(fd_, &value, sizeof(value));
  }

 private:
  int fd_ = -1;
};

enum class Woken { kDeadline, kSignal, kWakeup };

// Waits for a signal (its number goes to *signal), a wake-up (drained), or `deadline`, whichever
// comes first. `wakeup` may be null.
inline Woken wait_until(SignalWatch& signals, const Wakeup* wakeup, Clock::time_point deadline,
                        int* signal) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Woken::kDeadline;
    pollfd fds[2] = {{signals.fd(), POLLIN, 0}, {wakeup ? wakeup->fd() : -1, POLLIN, 0}};
    const int timeout = static_cast<int>(std::min<int64_t>(left.count(), 60'000));
    const int n = poll(fds, 2, timeout);
    if (n < 0 && errno != EINTR) return Woken::kDeadline;
    if (n <= 0) continue;
    if (fds[0].revents & POLLIN) {
      if (const int number = signals.take(); number != 0) {
        *signal = number;
        return Woken::kSignal;
      }
    }
    if (wakeup && (fds[1].revents & POLLIN)) {
      wakeup->drain();
      return Woken::kWakeup;
    }
  }
}

// Writes `content` to `path` through a temporary file and a rename, so a reader that polls for
// the file finds either nothing or all of it. Returns an error message, empty on success.
inline std::string write_file_atomically(const std::string& path, const std::string& content) {
  const std::string temporary = path + ".tmp." + std::to_string(getpid());
  FILE* file = std::fopen(temporary.c_str(), "wb");
  if (file == nullptr) return "cannot write " + temporary + ": " + std::strerror(errno);
  const bool written = std::fwrite(content.data(), 1, content.size(), file) == content.size();
  if (std::fclose(file) != 0 || !written) {
    std::remove(temporary.c_str());
    return "cannot write " + temporary + ": " + std::strerror(errno);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    return "cannot rename " + temporary + " to " + path + ": " + std::strerror(errno);
  }
  return {};
}

// The end of both programs' main(): parse the arguments (CLI11 prints help and usage errors),
// then run; a start-up failure thrown as an exception becomes "program: message" and exit 1.
template <class Run>
int parse_and_run(CLI::App& app, int argc, char** argv, const char* program, Run&& run) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace qsse::cli
