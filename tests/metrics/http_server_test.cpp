// MetricsHttpServer over real loopback TCP: status lines, headers, bodies, errors at start.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <qsse/metrics.hpp>

namespace qsse::metrics {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kDeadline = std::chrono::seconds(10);

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

struct HttpResponse {
  std::string status_line;
  std::string headers;  // raw header block, lower-cased names not assumed
  std::string body;

  // The value of header `name` (case-insensitive), or nullopt.
  std::optional<std::string> header(std::string_view name) const {
    std::size_t line_start = 0;
    while (line_start < headers.size()) {
      const std::size_t line_end = headers.find("\r\n", line_start);
      const std::string line = headers.substr(line_start, line_end - line_start);
      const std::size_t colon = line.find(':');
      if (colon == name.size() && strncasecmp(line.c_str(), name.data(), name.size()) == 0) {
        std::size_t value = colon + 1;
        while (value < line.size() && line[value] == ' ') ++value;
        return line.substr(value);
      }
      if (line_end == std::string::npos) break;
      line_start = line_end + 2;
    }
    return std::nullopt;
  }
};

// Sends `request` raw and reads until the server closes, polling against a deadline.
// Fails the test (and returns an empty response) on any error.
HttpResponse http_exchange(std::uint16_t port, const std::string& request) {
  HttpResponse response;
  Fd socket_fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_GE(socket_fd.fd, 0);
  const sockaddr_in address = loopback(port);
  if (connect(socket_fd.fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ADD_FAILURE() << "connect: " << std::strerror(errno);
    return response;
  }
  if (send(socket_fd.fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ADD_FAILURE() << "send: " << std::strerror(errno);
    return response;
  }
  std::string raw;
  const auto deadline = Clock::now() + kDeadline;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      ADD_FAILURE() << "no complete response before the deadline; got: " << raw;
      return response;
    }
    pollfd p{socket_fd.fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buffer[4096];
    const ssize_t n = recv(socket_fd.fd, buffer, sizeof buffer, 0);
    if (n < 0) {
      ADD_FAILURE() << "recv: " << std::strerror(errno);
      return response;
    }
    if (n == 0) break;  // the server closes after each response (no keep-alive)
    raw.append(buffer, static_cast<std::size_t>(n));
  }
  const std::size_t status_end = raw.find("\r\n");
  const std::size_t headers_end = raw.find("\r\n\r\n");
  if (status_end == std::string::npos || headers_end == std::string::npos) {
    ADD_FAILURE() << "malformed response: " << raw;
    return response;
  }
  response.status_line = raw.substr(0, status_end);
  response.headers = raw.substr(status_end + 2, headers_end - status_end - 2);
  response.body = raw.substr(headers_end + 4);
  return response;
}

HttpResponse http_request(std::uint16_t port, std::string_view method, std::string_view path) {
  return http_exchange(port, std::string(method) + " " + std::string(path) +
                                 " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

MetricsHttpServer start_or_fail(const Registry& registry, std::string_view address) {
  auto started = MetricsHttpServer::start(registry, address);
  if (!started) {
    ADD_FAILURE() << started.error().message;
    std::abort();
  }
  return std::move(*started);
}

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  MetricsHttpServerTest() : registry_({.metric_namespace = "", .subsystem = ""}) {
    registry_.counter("events_total", "Events", {"topic"}).with({"a.b"}).add(5);
  }
  Registry registry_;
};

TEST_F(MetricsHttpServerTest, ServesMetricsWithPrometheusContentType) {
  MetricsHttpServer server = start_or_fail(registry_, "127.0.0.1:0");
  ASSERT_TRUE(server.running());
  ASSERT_NE(server.port(), 0);

  const HttpResponse response = http_request(server.port(), "GET", "/metrics");
  EXPECT_EQ(response.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(response.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(response.header("Content-Length"), std::to_string(response.body.size()));
  EXPECT_EQ(response.header("Connection"), "close");
  const std::optional<std::string> date = response.header("Date");
  ASSERT_TRUE(date.has_value());
  EXPECT_EQ(date->size(), std::string_view("Sun, 06 Nov 1994 08:49:37 GMT").size()) << *date;
  EXPECT_TRUE(date->ends_with(" GMT")) << *date;
  EXPECT_EQ(response.body, registry_.prometheus_text());
  EXPECT_NE(response.body.find("events_total{topic=\"a.b\"} 5\n"), std::string::npos);

  // A later scrape sees later values, and a query string does not change the path.
  registry_.counter("events_total", "Events", {"topic"}).with({"a.b"}).inc();
  const HttpResponse later = http_request(server.port(), "GET", "/metrics?name[]=x");
  EXPECT_EQ(later.status_line, "HTTP/1.1 200 OK");
  EXPECT_NE(later.body.find("events_total{topic=\"a.b\"} 6\n"), std::string::npos) << later.body;
}

TEST_F(MetricsHttpServerTest, HeadHasHeadersButNoBody) {
  MetricsHttpServer server = start_or_fail(registry_, "127.0.0.1:0");
  const HttpResponse response = http_request(server.port(), "HEAD", "/metrics");
  EXPECT_EQ(response.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(response.header("Content-Length"), std::to_string(registry_.prometheus_text().size()));
  EXPECT_EQ(response.body, "");
}

TEST_F(MetricsHttpServerTest, OtherPathsAre404) {
  MetricsHttpServer server = start_or_fail(registry_, "127.0.0.1:0");
  for (const char* path : {"/", "/metrics/", "/metricsx", "/other", "/METRICS"}) {
    const HttpResponse response = http_request(server.port(), "GET", path);
    EXPECT_EQ(response.status_line, "HTTP/1.1 404 Not Found") << path;
    EXPECT_EQ(response.body.find("events_total"), std::string::npos) << path;
  }
}

TEST_F(MetricsHttpServerTest, OtherMethodsAre405WithAllow) {
  MetricsHttpServer server = start_or_fail(registry_, "127.0.0.1:0");
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    const HttpResponse response =
        http_exchange(server.port(), std::string(method) +
                                         " /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                         "Connection: close\r\n\r\n");
    EXPECT_EQ(response.status_line, "HTTP/1.1 405 Method Not Allowed") << method;
    EXPECT_EQ(response.header("Allow"), "GET, HEAD") << method;
  }
}

TEST_F(MetricsHttpServerTest, SecondServerOnTheSamePortReportsAddressInUse) {
  MetricsHttpServer first = start_or_fail(registry_, "127.0.0.1:0");
  const std::string address = "127.0.0.1:" + std::to_string(first.port());
  auto second = MetricsHttpServer::start(registry_, address);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, HttpServerError::kAddressInUse);
  EXPECT_NE(second.error().message.find(address), std::string::npos) << second.error().message;
  EXPECT_NE(second.error().message.find("address already in use"), std::string::npos);
  // The first one is unaffected.
  EXPECT_EQ(http_request(first.port(), "GET", "/metrics").status_line, "HTTP/1.1 200 OK");
}

TEST_F(MetricsHttpServerTest, PortHeldByAnotherListenerReportsAddressInUse) {
  Fd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_GE(listener.fd, 0);
  sockaddr_in address = loopback(0);
  ASSERT_EQ(bind(listener.fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(listen(listener.fd, 1), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(getsockname(listener.fd, reinterpret_cast<sockaddr*>(&address), &length), 0);

  auto server =
      MetricsHttpServer::start(registry_, "127.0.0.1:" + std::to_string(ntohs(address.sin_port)));
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error().code, HttpServerError::kAddressInUse) << server.error().message;
}

TEST_F(MetricsHttpServerTest, MalformedAddressesAreRejected) {
  for (const char* bad :
       {"", "9100", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:9x",
        "localhost:9100", "256.0.0.1:9100", "[::1]:9100", "127.0.0.1:9100s",
        "127.0.0.1:1,127.0.0.1:2", " :9100", "127.0.0.1:123456"}) {
    auto server = MetricsHttpServer::start(registry_, bad);
    ASSERT_FALSE(server) << bad;
    EXPECT_EQ(server.error().code, HttpServerError::kMalformedAddress) << bad;
    EXPECT_NE(server.error().message.find("malformed"), std::string::npos) << bad;
  }
}

TEST_F(MetricsHttpServerTest, NonLocalAddressIsAListenFailure) {
  // TEST-NET-1 (RFC 5737) is never assigned to a local interface: EADDRNOTAVAIL.
  auto server = MetricsHttpServer::start(registry_, "192.0.2.1:0");
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error().code, HttpServerError::kListenFailed);
  EXPECT_NE(server.error().message.find("192.0.2.1:0"), std::string::npos);
}

TEST_F(MetricsHttpServerTest, BadOptionsAreMisuse) {
  EXPECT_THROW((void)MetricsHttpServer::start(registry_, "127.0.0.1:0", {.worker_threads = 0}),
               std::invalid_argument);
}

TEST_F(MetricsHttpServerTest, StopClosesTheListenerAndIsIdempotent) {
  MetricsHttpServer server = start_or_fail(registry_, "127.0.0.1:0");
  const std::uint16_t port = server.port();
  server.stop();
  EXPECT_FALSE(server.running());
  EXPECT_EQ(server.port(), 0);
  server.stop();

  Fd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_in address = loopback(port);
  EXPECT_NE(connect(client.fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(errno, ECONNREFUSED);

  // The port is free again: a new server can take it.
  MetricsHttpServer again = start_or_fail(registry_, "127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(again.port(), port);
  EXPECT_EQ(http_request(port, "GET", "/metrics").status_line, "HTTP/1.1 200 OK");
}

TEST_F(MetricsHttpServerTest, MovedServerKeepsServingAndMovedFromIsStopped) {
  MetricsHttpServer original = start_or_fail(registry_, ":0");  // all interfaces
  const std::uint16_t port = original.port();
  MetricsHttpServer moved = std::move(original);
  EXPECT_FALSE(original.running());  // NOLINT(bugprone-use-after-move): documented state
  EXPECT_EQ(original.port(), 0);     // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(moved.port(), port);
  EXPECT_EQ(http_request(port, "GET", "/metrics").status_line, "HTTP/1.1 200 OK");
}

TEST_F(MetricsHttpServerTest, ManySequentialScrapes) {
  MetricsHttpServer server = start_or_fail(registry_, "127.0.0.1:0");
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(http_request(server.port(), "GET", "/metrics").status_line, "HTTP/1.1 200 OK") << i;
  }
}

// Several clients scrape over HTTP (on civetweb's worker threads) while a thread updates: every
// response is complete and each client sees the counter never go backwards. Runs under TSan.
TEST_F(MetricsHttpServerTest, ConcurrentScrapesDuringUpdates) {
  Counter& counter = registry_.counter("events_total", "Events", {"topic"}).with({"a.b"});
  MetricsHttpServer server = start_or_fail(registry_, "127.0.0.1:0");
  std::atomic<bool> clients_done{false};
  std::thread writer([&] {
    while (!clients_done.load()) counter.inc();
  });
  constexpr int kClients = 3;
  constexpr int kScrapesEach = 15;
  std::vector<std::thread> clients;
  std::vector<int> ok(kClients, 0);
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      std::uint64_t last = 0;
      for (int i = 0; i < kScrapesEach; ++i) {
        const HttpResponse response = http_request(server.port(), "GET", "/metrics");
        const std::string marker = "events_total{topic=\"a.b\"} ";
        const std::size_t at = response.body.find(marker);
        if (response.status_line != "HTTP/1.1 200 OK" || at == std::string::npos) return;
        const std::uint64_t value = std::stoull(response.body.substr(at + marker.size()));
        if (value < last) return;
        last = value;
        ++ok[c];
      }
    });
  }
  for (auto& client : clients) client.join();
  clients_done.store(true);
  writer.join();
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(ok[c], kScrapesEach) << "client " << c;
}

}  // namespace
}  // namespace qsse::metrics
