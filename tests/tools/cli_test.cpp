// tests/tools/cli_test.cpp — qsse-server and qsse-sub driven as a user drives them: real
// processes started with arguments, stdin written, stdout/stderr read, signals sent, exit status
// checked. Loopback only, ephemeral ports (the server prints `listening on ADDR`), every wait
// bounded by a deadline, and only the processes this test started are signalled, by PID.
//
// The binaries come from meson: $QSSE_SERVER and $QSSE_SUB (tools/cli/meson.build).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string binary(const char* variable) {
  const char* path = std::getenv(variable);
  return path != nullptr ? path : "";
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// A child process with its stdout and stderr captured (and stdin piped, on request). Killed
// (by its PID) and reaped when the object goes away, if it has not exited by then.
class Process {
 public:
  Process(const std::vector<std::string>& argv, bool pipe_stdin) {
    int out[2], err[2], in[2] = {-1, -1};
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    if (pipe_stdin && pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (pipe_stdin) {
      posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    } else {
      posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    }
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    close(err[1]);
    if (pipe_stdin) {
      close(in[0]);
      stdin_fd_ = in[1];
    }
    if (rc != 0) {
      close(out[0]);
      close(err[0]);
      throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
    reader_ = std::thread([this, o = out[0], e = err[0]] { read_output(o, e); });
  }

  ~Process() {
    close_stdin();
    if (!exit_status_) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    reader_.join();
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }

  void write_stdin(std::string_view bytes) {
    ASSERT_GE(stdin_fd_, 0);
    while (!bytes.empty()) {
      const ssize_t n = write(stdin_fd_, bytes.data(), bytes.size());
      ASSERT_GT(n, 0) << std::strerror(errno);
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  void close_stdin() {
    if (stdin_fd_ >= 0) close(stdin_fd_);
    stdin_fd_ = -1;
  }
  void signal(int number) {
    if (!exit_status_) kill(pid_, number);
  }

  // The exit status (or 128 + signal), or nullopt if still running after `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!exit_status_) {
      int status = 0;
      const pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (Clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(5ms);
    }
    // Both pipes reach EOF once the process is gone (it has no children): collect everything.
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 5s, [&] { return output_closed_; });
    return exit_status_;
  }
  bool running() {
    if (exit_status_) return false;
    siginfo_t info{};
    return waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == 0;
  }

  // Waits until a complete stderr line contains `needle`; returns the text after the needle on
  // that line, or nullopt at the deadline or when the process closed its stderr first.
  // (Substrings, not std::regex: GCC 12's <regex> trips -Wmaybe-uninitialized under ASan.)
  std::optional<std::string> wait_stderr(const std::string& needle,
                                         std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::optional<std::string> rest;
    auto find = [&] {
      for (const std::string& line : split_lines(err_)) {
        if (const size_t at = line.find(needle); at != std::string::npos) {
          rest = line.substr(at + needle.size());
          return true;
        }
      }
      return false;
    };
    changed_.wait_for(lock, timeout, [&] { return find() || output_closed_; });
    if (!rest) find();
    return rest;
  }
  // Waits until stdout holds at least `lines` complete lines.
  bool wait_stdout_lines(size_t lines, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      return static_cast<size_t>(std::count(out_.begin(), out_.end(), '\n')) >= lines;
    });
  }

  std::string out() {
    std::lock_guard lock(mutex_);
    return out_;
  }
  std::string err() {
    std::lock_guard lock(mutex_);
    return err_;
  }

 private:
  void read_output(int out_fd, int err_fd) {
    pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    int open = 2;
    char buffer[16384];
    while (open > 0) {
      if (poll(fds, 2, 1000) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0) continue;
        const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
        if (n > 0) {
          std::lock_guard lock(mutex_);
          (i == 0 ? out_ : err_).append(buffer, static_cast<size_t>(n));
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          close(fds[i].fd);
          fds[i].fd = -1;
          --open;
        }
      }
      changed_.notify_all();
    }
    std::lock_guard lock(mutex_);
    output_closed_ = true;
    changed_.notify_all();
  }

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::optional<int> exit_status_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string out_, err_;
  bool output_closed_ = false;
  std::thread reader_;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_bin_ = binary("QSSE_SERVER");
    sub_bin_ = binary("QSSE_SUB");
    ASSERT_FALSE(server_bin_.empty()) << "set QSSE_SERVER (meson test does)";
    ASSERT_FALSE(sub_bin_.empty()) << "set QSSE_SUB (meson test does)";
    char pattern[] = "/tmp/qsse-cli-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Starts qsse-server on 127.0.0.1:0 with its certificate written to `cert`; waits for its
  // `listening on` line and stores the address in *address.
  std::unique_ptr<Process> start_server(std::vector<std::string> args, const std::string& cert,
                                        std::string* address, bool pipe_stdin = false) {
    std::vector<std::string> argv = {server_bin_, "--listen",     "127.0.0.1:0", "--shards",
                                     "2",         "--write-cert", cert};
    argv.insert(argv.end(), args.begin(), args.end());
    auto server = std::make_unique<Process>(argv, pipe_stdin);
    auto listening = server->wait_stderr("listening on 127.0.0.1:", 20s);
    EXPECT_TRUE(listening) << "qsse-server did not start:\n" << server->err();
    if (listening) *address = "127.0.0.1:" + *listening;
    return server;
  }

  std::unique_ptr<Process> start_sub(std::vector<std::string> args) {
    std::vector<std::string> argv = {sub_bin_};
    argv.insert(argv.end(), args.begin(), args.end());
    return std::make_unique<Process>(argv, false);
  }

  // Runs qsse-sub to completion (bounded) and returns its exit status (-1: still running).
  int run_sub(Process& sub, std::chrono::milliseconds timeout = 30s) {
    auto status = sub.wait_exit(timeout);
    EXPECT_TRUE(status) << "qsse-sub did not exit in time; stderr:\n" << sub.err();
    return status.value_or(-1);
  }

  // SIGTERM, then expects a graceful exit with status 0.
  void stop_server(Process& server) {
    server.signal(SIGTERM);
    auto status = server.wait_exit(15s);
    ASSERT_TRUE(status) << "qsse-server ignored SIGTERM";
    EXPECT_EQ(*status, 0) << server.err();
    EXPECT_NE(server.err().find("shut down after"), std::string::npos) << server.err();
  }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  std::string server_bin_, sub_bin_, dir_;
};

struct JsonEvent {
  std::string topic;
  std::optional<std::string> data;
  std::optional<std::string> data_base64;
};

// Parses qsse-sub's jsonl output; every line must be one JSON object with the documented fields.
std::vector<JsonEvent> parse_jsonl(const std::string& text) {
  std::vector<JsonEvent> events;
  simdjson::dom::parser parser;
  for (const std::string& line : split_lines(text)) {
    simdjson::dom::object object;
    if (parser.parse(line).get(object) != simdjson::SUCCESS) {
      ADD_FAILURE() << "not a JSON object: " << line;
      continue;
    }
    JsonEvent event;
    for (auto field : object) {
      std::string_view value;
      EXPECT_EQ(field.value.get(value), simdjson::SUCCESS) << line;
      if (field.key == "topic") {
        event.topic = value;
      } else if (field.key == "data") {
        event.data = std::string(value);
      } else if (field.key == "data_base64") {
        event.data_base64 = std::string(value);
      } else {
        ADD_FAILURE() << "unexpected field " << field.key << " in " << line;
      }
    }
    EXPECT_FALSE(event.topic.empty()) << line;
    EXPECT_NE(event.data.has_value(), event.data_base64.has_value()) << line;
    events.push_back(std::move(event));
  }
  return events;
}

// GET http://127.0.0.1:port/path with a bounded wait; the whole response, or empty.
std::string http_get(uint16_t port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request =
        "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[8192];
      ssize_t n;
      while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, n);
    }
  }
  close(fd);
  return response;
}

TEST_F(CliTest, GeneratedEventsReachAWildcardSubscriberAsJsonLines) {
  std::string address;
  auto server = start_server({"--topic", "ride.1.location", "--topic", "ride.2.location", "--topic",
                              "chat.room", "--generate", "300"},
                             path("cert.pem"), &address);
  ASSERT_FALSE(address.empty());
  auto sub = start_sub({"--connect", address, "--topic", "ride.*.location", "--ca",
                        path("cert.pem"), "--count", "40", "--format", "jsonl", "--timeout", "30"});
  ASSERT_EQ(run_sub(*sub), 0) << sub->err();
  EXPECT_NE(sub->err().find("connected to " + address + " (qsse/1)"), std::string::npos)
      << sub->err();

  const std::vector<JsonEvent> events = parse_jsonl(sub->out());
  ASSERT_EQ(events.size(), 40u) << sub->out();
  std::map<std::string, int64_t> last_seq;
  simdjson::dom::parser parser;
  for (const JsonEvent& event : events) {
    EXPECT_TRUE(event.topic == "ride.1.location" || event.topic == "ride.2.location")
        << event.topic;
    ASSERT_TRUE(event.data) << "generator payloads are UTF-8 JSON";
    // The generator's payload: {"seq":N,"ts_us":T}, seq increasing on each topic.
    simdjson::dom::object payload;
    ASSERT_EQ(parser.parse(*event.data).get(payload), simdjson::SUCCESS) << *event.data;
    int64_t seq = 0, ts_us = 0;
    ASSERT_EQ(payload["seq"].get(seq), simdjson::SUCCESS) << *event.data;
    ASSERT_EQ(payload["ts_us"].get(ts_us), simdjson::SUCCESS) << *event.data;
    EXPECT_GT(ts_us, 1'600'000'000'000'000) << "microseconds since the epoch";
    EXPECT_GT(seq, last_seq[event.topic]) << event.topic;
    last_seq[event.topic] = seq;
  }
  EXPECT_EQ(last_seq.size(), 2u) << "both matching topics delivered";

  EXPECT_TRUE(server->wait_stderr("status connections=", 5s)) << server->err();
  stop_server(*server);
}

// With a one-event inbox the generator meets back-pressure constantly: it must retry (and the
// server count it), never skip an event. One topic, so its sequence numbers are consecutive.
TEST_F(CliTest, GeneratorRetriesUnderBackPressureAndSkipsNothing) {
  std::string address;
  auto server =
      start_server({"--topic", "bp.topic", "--generate", "200000", "--inbox-capacity", "1"},
                   path("cert.pem"), &address);
  ASSERT_FALSE(address.empty());
  auto sub = start_sub({"--connect", address, "--topic", "bp.topic", "--ca", path("cert.pem"),
                        "--count", "3000", "--format", "jsonl", "--timeout", "60"});
  ASSERT_EQ(run_sub(*sub, 90s), 0) << sub->err();
  const std::vector<JsonEvent> events = parse_jsonl(sub->out());
  ASSERT_EQ(events.size(), 3000u);
  simdjson::dom::parser parser;
  int64_t previous = -1;
  for (const JsonEvent& event : events) {
    ASSERT_TRUE(event.data);
    int64_t seq = 0;
    simdjson::dom::object payload;
    ASSERT_EQ(parser.parse(*event.data).get(payload), simdjson::SUCCESS);
    ASSERT_EQ(payload["seq"].get(seq), simdjson::SUCCESS);
    if (previous >= 0) {
      ASSERT_EQ(seq, previous + 1) << "an event was skipped";
    }
    previous = seq;
  }
  stop_server(*server);
  const auto summary = server->wait_stderr("shut down after", 1s);
  ASSERT_TRUE(summary) << server->err();
  const size_t at = summary->find(" back_pressure=");
  ASSERT_NE(at, std::string::npos) << *summary;
  EXPECT_GT(std::stoll(summary->substr(at + 15)), 0) << *summary;
}

TEST_F(CliTest, StdinLinesArePublishedAndBadLinesReportedByNumber) {
  std::string address;
  auto server = start_server({"--topic", "chat.room", "--topic", "chat.bin", "--stdin"},
                             path("cert.pem"), &address, /*pipe_stdin=*/true);
  ASSERT_FALSE(address.empty());
  auto sub = start_sub({"--connect", address, "--topic", "chat.*", "--ca", path("cert.pem"),
                        "--count", "5", "--format", "jsonl", "--timeout", "30"});
  ASSERT_TRUE(sub->wait_stderr("connected to", 20s)) << sub->err();

  const std::string tricky = "quote \" backslash \\ tab\there \x01 caf\xc3\xa9";
  server->write_stdin("chat.room hello world\n");                    // line 1
  server->write_stdin("no-space-here\n");                            // line 2: bad
  server->write_stdin("unknown.topic x\n");                          // line 3: not declared
  server->write_stdin("chat.room " + tricky + "\r\n");               // line 4 (CRLF accepted)
  server->write_stdin(std::string("chat.bin \xff\xfe\x00z\n", 14));  // line 5: not UTF-8
  server->write_stdin("\n");                                         // line 6: blank, ignored
  server->write_stdin("chat.* to every chat topic\n");               // line 7: pattern, 2 events
  ASSERT_EQ(run_sub(*sub), 0) << sub->err();

  // Order is guaranteed per topic, not across topics.
  std::map<std::string, std::vector<std::string>> got;
  for (const JsonEvent& event : parse_jsonl(sub->out())) {
    got[event.topic].push_back(event.data ? "text:" + *event.data : "base64:" + *event.data_base64);
  }
  const std::map<std::string, std::vector<std::string>> expected = {
      {"chat.room", {"text:hello world", "text:" + tricky, "text:to every chat topic"}},
      {"chat.bin", {"base64://4Aeg==", "text:to every chat topic"}}};
  EXPECT_EQ(got, expected) << sub->out();

  EXPECT_TRUE(server->wait_stderr("stdin line 2: expected 'TOPIC DATA'", 5s)) << server->err();
  EXPECT_TRUE(server->wait_stderr("stdin line 3: topic 'unknown.topic': topic_not_available", 5s))
      << server->err();

  // EOF ends publishing, not serving: a new subscriber still connects.
  server->close_stdin();
  EXPECT_TRUE(server->wait_stderr("end of input after 7 line(s): 4 published, 2 bad", 5s))
      << server->err();
  auto late = start_sub(
      {"--connect", address, "--topic", "chat.room", "--ca", path("cert.pem"), "--timeout", "0.5"});
  EXPECT_EQ(run_sub(*late), 0) << late->err();
  EXPECT_NE(late->err().find("connected to"), std::string::npos) << late->err();
  ASSERT_TRUE(server->running());

  server->signal(SIGINT);
  auto status = server->wait_exit(15s);
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0) << server->err();
}

TEST_F(CliTest, LegacyProtocolPrintsText) {
  std::string address;
  auto server = start_server({"--topic", "ride.passenger.start", "--generate", "200"},
                             path("cert.pem"), &address);
  ASSERT_FALSE(address.empty());
  auto sub = start_sub({"--connect", address, "--topic", "ride.passenger.start", "--legacy", "--ca",
                        path("cert.pem"), "--count", "10", "--timeout", "30"});
  ASSERT_EQ(run_sub(*sub), 0) << sub->err();
  EXPECT_NE(sub->err().find("(legacy)"), std::string::npos) << sub->err();
  const auto lines = split_lines(sub->out());
  ASSERT_EQ(lines.size(), 10u) << sub->out();
  simdjson::dom::parser parser;
  for (const std::string& line : lines) {
    const std::string prefix = "ride.passenger.start\t";
    ASSERT_EQ(line.substr(0, prefix.size()), prefix) << line;
    simdjson::dom::object payload;
    int64_t seq = 0;
    ASSERT_EQ(parser.parse(line.substr(prefix.size())).get(payload), simdjson::SUCCESS) << line;
    EXPECT_EQ(payload["seq"].get(seq), simdjson::SUCCESS) << line;
  }
  stop_server(*server);
}

TEST_F(CliTest, WrongTokenIsRefusedAndTheRightOneAccepted) {
  std::string address;
  auto server = start_server({"--topic", "a.b", "--token", "s3cret", "--generate", "100"},
                             path("cert.pem"), &address);
  ASSERT_FALSE(address.empty());
  for (const char* protocol : {"--format=text", "--legacy"}) {
    SCOPED_TRACE(protocol);
    auto bad = start_sub({"--connect", address, "--topic", "a.b", "--ca", path("cert.pem"),
                          "--token", "wrong", "--count", "1", protocol, "--timeout", "20"});
    EXPECT_EQ(run_sub(*bad), 1);
    EXPECT_NE(bad->err().find("not authorized"), std::string::npos) << bad->err();
    EXPECT_EQ(bad->out(), "");

    auto good = start_sub({"--connect", address, "--topic", "a.b", "--ca", path("cert.pem"),
                           "--token", "s3cret", "--count", "1", protocol, "--timeout", "20"});
    EXPECT_EQ(run_sub(*good), 0) << good->err();
    EXPECT_EQ(split_lines(good->out()).size(), 1u);
  }
  stop_server(*server);
}

TEST_F(CliTest, CertificateVerificationFailsWithTheWrongCa) {
  std::string address, other_address;
  auto server = start_server({"--topic", "a.b"}, path("cert.pem"), &address);
  auto other = start_server({"--topic", "a.b"}, path("other.pem"), &other_address);
  ASSERT_FALSE(address.empty());
  ASSERT_FALSE(other_address.empty());

  const auto started = Clock::now();
  auto wrong = start_sub({"--connect", address, "--topic", "a.b", "--ca", path("other.pem"),
                          "--count", "1", "--timeout", "20"});
  EXPECT_EQ(run_sub(*wrong), 1) << wrong->err();
  EXPECT_EQ(wrong->err().find("connected to"), std::string::npos) << wrong->err();
  EXPECT_NE(wrong->err().find("cannot connect"), std::string::npos) << wrong->err();
  EXPECT_LT(Clock::now() - started, 15s) << "a TLS failure is reported, not waited out";

  // The system trust store does not know a self-signed certificate either; the hint says why.
  auto none =
      start_sub({"--connect", address, "--topic", "a.b", "--count", "1", "--timeout", "20"});
  EXPECT_EQ(run_sub(*none), 1) << none->err();
  EXPECT_NE(none->err().find("--ca FILE"), std::string::npos) << none->err();

  // --insecure skips verification.
  auto insecure =
      start_sub({"--connect", address, "--topic", "a.b", "--insecure", "--timeout", "0.5"});
  EXPECT_EQ(run_sub(*insecure), 0) << insecure->err();
  stop_server(*server);
  stop_server(*other);
}

TEST_F(CliTest, TimeoutBeforeCountExitsTwo) {
  std::string address;
  auto server = start_server({"--topic", "quiet.topic"}, path("cert.pem"), &address);
  ASSERT_FALSE(address.empty());
  const auto started = Clock::now();
  auto sub = start_sub({"--connect", address, "--topic", "quiet.topic", "--ca", path("cert.pem"),
                        "--count", "5", "--timeout", "1"});
  EXPECT_EQ(run_sub(*sub), 2) << sub->err();
  EXPECT_NE(sub->err().find("timeout after 1 s: 0 of 5 events"), std::string::npos) << sub->err();
  EXPECT_LT(Clock::now() - started, 10s);
  stop_server(*server);
}

TEST_F(CliTest, UnknownTopicIsReportedWithItsCodeNameAndOthersStillFlow) {
  std::string address;
  auto server = start_server({"--topic", "a.b", "--generate", "100"}, path("cert.pem"), &address);
  ASSERT_FALSE(address.empty());
  auto sub = start_sub({"--connect", address, "--topic", "no.such", "--topic", "a.b", "--ca",
                        path("cert.pem"), "--count", "3", "--timeout", "30"});
  EXPECT_EQ(run_sub(*sub), 0) << sub->err();
  EXPECT_NE(sub->err().find("error 2 (topic_not_available) on 'no.such'"), std::string::npos)
      << sub->err();
  EXPECT_EQ(split_lines(sub->out()).size(), 3u);
  stop_server(*server);
}

TEST_F(CliTest, ServerShutdownEndsASubscriptionWithAnError) {
  std::string address;
  auto server = start_server({"--topic", "a.b", "--generate", "50"}, path("cert.pem"), &address);
  ASSERT_FALSE(address.empty());
  auto sub = start_sub({"--connect", address, "--topic", "a.b", "--ca", path("cert.pem")});
  ASSERT_TRUE(sub->wait_stdout_lines(3, 20s)) << sub->err();
  stop_server(*server);
  EXPECT_EQ(run_sub(*sub, 20s), 1) << sub->err();
  EXPECT_NE(sub->err().find("connection lost"), std::string::npos) << sub->err();
}

TEST_F(CliTest, MetricsAreServedOverHttp) {
  std::string address;
  auto server = start_server({"--topic", "a.b", "--generate", "100", "--metrics", "127.0.0.1:0"},
                             path("cert.pem"), &address);
  ASSERT_FALSE(address.empty());
  auto port = server->wait_stderr("metrics on http://127.0.0.1:", 5s);
  ASSERT_TRUE(port) << server->err();
  ASSERT_EQ(port->substr(port->find('/')), "/metrics");
  auto sub = start_sub({"--connect", address, "--topic", "a.b", "--ca", path("cert.pem"), "--count",
                        "20", "--timeout", "30"});
  ASSERT_EQ(run_sub(*sub), 0) << sub->err();

  // The endpoint serves the server's own registry: live, per topic.
  const std::string response = http_get(static_cast<uint16_t>(std::stoi(*port)), "/metrics");
  EXPECT_NE(response.find(" 200 "), std::string::npos) << response;
  const std::string series = "\nqsse_qsse_events_published_total{topic=\"a.b\"} ";
  const size_t at = response.find(series);
  ASSERT_NE(at, std::string::npos) << response;
  EXPECT_GE(std::stoll(response.substr(at + series.size())), 20) << response;
  EXPECT_NE(response.find("\nqsse_qsse_handshakes_total "), std::string::npos) << response;
  EXPECT_NE(response.find("\nqsse_qsse_subscribers{topic=\"a.b\"} "), std::string::npos)
      << response;
  EXPECT_NE(http_get(static_cast<uint16_t>(std::stoi(*port)), "/other").find(" 404 "),
            std::string::npos);
  stop_server(*server);
}

TEST_F(CliTest, BadArgumentsAreRefusedWithAMessage) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{"--listen", "not-an-address", "--topic", "a.b"}, "qsse-server:"},
      {{"--listen", "127.0.0.1:0", "--topic", "bad topic"}, "invalid character"},
      {{"--listen", "127.0.0.1:0", "--topic", "a.*"}, "wildcard"},
      {{"--listen", "127.0.0.1:0", "--topic", "a.b", "--cert", "/nonexistent.pem"}, "--cert"},
      {{"--topic", "a.b"}, "--listen"},
      {{"--listen", "127.0.0.1:0", "--topic", "a.b", "--realtime-priority", "100"},
       "--realtime-priority"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {server_bin_};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    Process server(argv, false);
    auto status = server.wait_exit(20s);
    ASSERT_TRUE(status) << testing::PrintToString(c.args);
    EXPECT_NE(*status, 0) << testing::PrintToString(c.args);
    EXPECT_NE(server.err().find(c.message), std::string::npos)
        << testing::PrintToString(c.args) << "\n"
        << server.err();
  }
  auto sub = start_sub({"--connect", "127.0.0.1:1", "--topic", "a.b", "--format", "xml"});
  EXPECT_NE(run_sub(*sub), 0);
  EXPECT_NE(sub->err().find("--format"), std::string::npos) << sub->err();
  auto both =
      start_sub({"--connect", "127.0.0.1:1", "--topic", "a.b", "--insecure", "--ca", server_bin_});
  EXPECT_NE(run_sub(*both), 0);
  EXPECT_NE(both->err().find("excludes"), std::string::npos) << both->err();
}

TEST_F(CliTest, NobodyListeningFailsWithinTheTimeout) {
  const auto started = Clock::now();
  // Port 9 (discard) on loopback: nothing answers QUIC there.
  auto sub = start_sub({"--connect", "127.0.0.1:9", "--topic", "a.b", "--insecure", "--count", "1",
                        "--timeout", "2"});
  const int status = run_sub(*sub);
  EXPECT_TRUE(status == 1 || status == 2) << status << "\n" << sub->err();
  EXPECT_NE(sub->err().find("qsse-sub:"), std::string::npos) << sub->err();
  EXPECT_LT(Clock::now() - started, 15s);
}

}  // namespace
