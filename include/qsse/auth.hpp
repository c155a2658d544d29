// qsse/auth.hpp — authentication and authorization hooks of a Server.
//
// The authenticator sees the token a client presents (HELLO or legacy offer) and decides
// whether the client may connect at all: false closes the connection with application error
// code 1 (not_authorized). The authorizer is then asked, per requested topic pattern, whether
// this token may read it: false refuses that pattern with an ERROR of code 1 and the client
// keeps its other patterns.
//
// Both run on the server's shard threads, possibly on several at once: they must be
// thread-safe, and fast (a slow one delays every connection of its shard). The default, as in
// the Go library, accepts everything (the server logs that once).
#pragma once

#include <functional>
#include <string_view>

namespace qsse {

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  virtual bool authenticate(std::string_view token) = 0;
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // `topic` is the pattern as the client asked for it (it may contain wildcards).
  virtual bool authorize(std::string_view token, std::string_view topic) = 0;
};

using AuthenticatorFunc = std::function<bool(std::string_view token)>;
using AuthorizerFunc = std::function<bool(std::string_view token, std::string_view topic)>;

}  // namespace qsse
