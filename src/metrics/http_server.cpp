// MetricsHttpServer: civetweb serving GET /metrics from a Registry.
//
// civetweb reports why it could not listen only through its log callback, which it calls on the
// starting thread (with a stand-in connection) while mg_start2 runs. A thread_local pointer
// collects those lines for the one start() in progress on this thread; every other log line is
// dropped.
//
// civetweb's accept thread polls its listeners with a 2 s timeout and checks the stop flag only
// between polls, so a bare mg_stop takes up to 2 s. stop() therefore connects to the listener a
// few times while mg_stop runs: the poll wakes, sees the flag and the thread exits at once.
#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include <qsse/metrics.hpp>

namespace qsse::metrics {
namespace {

constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kMetricsPath = "/metrics";

thread_local std::string* t_start_log = nullptr;

int on_log_message(const mg_connection* /*connection*/, const char* message) {
  if (t_start_log != nullptr && message != nullptr) {
    if (!t_start_log->empty()) *t_start_log += "; ";
    *t_start_log += message;
  }
  return 1;  // never let civetweb print on its own
}

// Accepts "A.B.C.D:PORT" and ":PORT"; returns civetweb's listening_ports spelling, or "" when
// malformed. Validating here also keeps civetweb's own syntax (lists, 's'/'r' suffixes) out.
std::string to_listening_port(std::string_view address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return {};
  const std::string_view host = address.substr(0, colon);
  const std::string_view port_text = address.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5) return {};
  unsigned port = 0;
  const auto [end, error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    return {};
  }
  if (host.empty()) return std::to_string(port);
  in_addr parsed{};
  if (inet_pton(AF_INET, std::string(host).c_str(), &parsed) != 1) return {};
  return std::string(host) + ":" + std::to_string(port);
}

// Opens and drops one TCP connection to `address` without ever blocking.
void poke(const sockaddr_in& address) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  close(fd);
}

void ensure_civetweb_initialized() {
  static std::once_flag once;
  // Features 0: no TLS, nothing optional. Never undone (mg_exit_library) on purpose: other
  // servers may start later in the process.
  std::call_once(once, [] { mg_init_library(0); });
}

// The Date header value (RFC 9110 IMF-fixdate) for now. gmtime_r and fixed English names: no
// shared static buffer, no locale.
std::string http_date() {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[utc.tm_wday],
                utc.tm_mday, kMonths[utc.tm_mon], utc.tm_year + 1900, utc.tm_hour, utc.tm_min,
                utc.tm_sec);
  return buffer;
}

// Writes a complete response (status line, headers, body) in one mg_write. We do not use
// civetweb's header helpers (mg_response_header_send, mg_send_http_error): in Debian's build they
// format the Date header with gmtime(), whose static buffer races between worker threads
// (ThreadSanitizer reports it as soon as two scrapes overlap).
int send_response(mg_connection* connection, int status, std::string_view reason,
                  std::string_view content_type, std::string_view body, bool with_body,
                  std::string_view allow = {}) {
  std::string response;
  response.reserve(200 + (with_body ? body.size() : 0));
  response += "HTTP/1.1 ";
  response += std::to_string(status);
  response += ' ';
  response += reason;
  response += "\r\nContent-Type: ";
  response += content_type;
  response += "\r\nContent-Length: ";
  response += std::to_string(body.size());
  response += "\r\nDate: ";
  response += http_date();
  response += "\r\nCache-Control: no-store\r\nConnection: close\r\n";
  if (!allow.empty()) {
    response += "Allow: ";
    response += allow;
    response += "\r\n";
  }
  response += "\r\n";
  if (with_body) response += body;
  mg_write(connection, response.data(), response.size());
  return status;
}

}  // namespace

struct MetricsHttpServer::Impl {
  const Registry* registry = nullptr;
  mg_context* context = nullptr;
  std::uint16_t port = 0;
  sockaddr_in wake_address{};  // where stop() connects to wake civetweb's accept thread

  ~Impl() { stop(); }

  void stop() noexcept {
    if (context == nullptr) return;
    std::mutex mutex;
    std::condition_variable changed;
    bool stopped = false;
    std::thread waker;
    try {
      waker = std::thread([&] {
        std::unique_lock lock(mutex);
        while (!stopped) {
          poke(wake_address);
          changed.wait_for(lock, std::chrono::milliseconds(20));
        }
      });
    } catch (...) {  // no thread: mg_stop still works, it only takes longer
    }
    mg_stop(context);  // closes the listener, waits for in-flight requests
    {
      const std::lock_guard lock(mutex);
      stopped = true;
    }
    changed.notify_all();
    if (waker.joinable()) waker.join();
    context = nullptr;
    port = 0;
  }

  // civetweb's begin_request: we answer every request ourselves (no document root).
  static int on_request(mg_connection* connection) {
    const mg_request_info* request = mg_get_request_info(connection);
    const auto* self = static_cast<const Impl*>(request->user_data);
    const std::string_view method = request->request_method ? request->request_method : "";
    const bool is_metrics = request->local_uri != nullptr && request->local_uri == kMetricsPath;
    try {
      if (!is_metrics) {
        return send_response(connection, 404, "Not Found", "text/plain", "not found\n",
                             method != "HEAD");
      }
      if (method != "GET" && method != "HEAD") {
        return send_response(connection, 405, "Method Not Allowed", "text/plain",
                             "method not allowed\n", true, "GET, HEAD");
      }
      return send_response(connection, 200, "OK", kContentType, self->registry->prometheus_text(),
                           method == "GET");
    } catch (...) {  // out of memory while rendering: nothing may escape into C code
      try {
        return send_response(connection, 500, "Internal Server Error", "text/plain",
                             "internal error\n", true);
      } catch (...) {
        return 500;  // could not even build the error response; civetweb closes the connection
      }
    }
  }
};

Result<MetricsHttpServer, HttpServerFailure> MetricsHttpServer::start(
    const Registry& registry, std::string_view listen_address, const HttpServerOptions& options) {
  if (options.worker_threads < 1 || options.request_timeout_ms < 1) {
    throw std::invalid_argument(
        "qsse::metrics: HttpServerOptions needs worker_threads >= 1 and request_timeout_ms >= 1");
  }
  const std::string listening_port = to_listening_port(listen_address);
  if (listening_port.empty()) {
    return fail(
        HttpServerFailure{HttpServerError::kMalformedAddress,
                          "metrics listen address \"" + std::string(listen_address) +
                              "\" is malformed: expected IPV4:PORT or :PORT with PORT 0..65535 "
                              "(e.g. 127.0.0.1:9100)"});
  }
  ensure_civetweb_initialized();

  auto impl = std::make_unique<Impl>();
  impl->registry = &registry;
  const std::string threads = std::to_string(options.worker_threads);
  const std::string timeout = std::to_string(options.request_timeout_ms);
  const char* configuration[] = {"listening_ports",
                                 listening_port.c_str(),
                                 "num_threads",
                                 threads.c_str(),
                                 "request_timeout_ms",
                                 timeout.c_str(),
                                 "enable_keep_alive",
                                 "no",
                                 nullptr};
  mg_callbacks callbacks{};
  callbacks.begin_request = &Impl::on_request;
  callbacks.log_message = &on_log_message;
  mg_init_data init{&callbacks, impl.get(), configuration};
  unsigned error_code = 0;
  char error_text[256] = {};
  mg_error_data error{&error_code, error_text, sizeof error_text};

  std::string log;
  t_start_log = &log;
  impl->context = mg_start2(&init, &error);
  t_start_log = nullptr;

  if (impl->context == nullptr) {
    const std::string in_use_marker = ": " + std::to_string(EADDRINUSE) + " (";
    const bool in_use = log.find(in_use_marker) != std::string::npos;
    std::string message = "metrics HTTP server cannot listen on " + std::string(listen_address) +
                          (in_use ? ": address already in use" : "");
    message += " (civetweb: " + (log.empty() ? std::string(error_text) : log) + ")";
    return fail(HttpServerFailure{
        in_use ? HttpServerError::kAddressInUse : HttpServerError::kListenFailed, message});
  }
  mg_server_port bound{};
  if (mg_get_server_ports(impl->context, 1, &bound) != 1 || bound.port <= 0) {
    return fail(HttpServerFailure{HttpServerError::kListenFailed,
                                  "metrics HTTP server on " + std::string(listen_address) +
                                      " started but reports no listening port"});
  }
  impl->port = static_cast<std::uint16_t>(bound.port);
  impl->wake_address.sin_family = AF_INET;
  impl->wake_address.sin_port = htons(impl->port);
  const std::size_t colon = listening_port.rfind(':');
  if (colon == std::string::npos ||
      inet_pton(AF_INET, listening_port.substr(0, colon).c_str(), &impl->wake_address.sin_addr) !=
          1 ||
      impl->wake_address.sin_addr.s_addr == htonl(INADDR_ANY)) {
    impl->wake_address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  return MetricsHttpServer(std::move(impl));
}

MetricsHttpServer::MetricsHttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetricsHttpServer::MetricsHttpServer(MetricsHttpServer&& other) noexcept = default;
MetricsHttpServer& MetricsHttpServer::operator=(MetricsHttpServer&& other) noexcept = default;
MetricsHttpServer::~MetricsHttpServer() = default;

std::uint16_t MetricsHttpServer::port() const noexcept {
  return impl_ ? impl_->port : 0;
}

bool MetricsHttpServer::running() const noexcept {
  return impl_ && impl_->context != nullptr;
}

void MetricsHttpServer::stop() noexcept {
  if (impl_) impl_->stop();
}

}  // namespace qsse::metrics
