// qsse/result.hpp — Result<T, E>: a value or a typed error, for calls that must not throw.
//
// The engine's hot paths (frame decoding, publishing, trie updates) report failure through
// Result instead of exceptions. A Result is marked [[nodiscard]]: ignoring one is a compile
// warning (an error in CI). Construct failures with qsse::fail(error).
//
//   Result<Frame, DecodeError> r = decode(bytes);
//   if (!r) return r.error();
//   use(*r);
//
// Thread safety: a Result is a plain value; the usual rules for values apply.
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace qsse {

// The failure half of a Result, built by qsse::fail().
template <class E>
struct Failure {
  E error;
};

template <class E>
constexpr Failure<std::decay_t<E>> fail(E&& error) {
  return Failure<std::decay_t<E>>{std::forward<E>(error)};
}

template <class T, class E>
class [[nodiscard]] Result {
 public:
  // NOLINTNEXTLINE(google-explicit-constructor): implicit, so `return value;` works.
  constexpr Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  template <class F, class = std::enable_if_t<std::is_convertible_v<F, E>>>
  constexpr Result(Failure<F> failure)  // NOLINT(google-explicit-constructor)
      : state_(std::in_place_index<1>, E(std::move(failure.error))) {}

  constexpr bool has_value() const noexcept { return state_.index() == 0; }
  constexpr explicit operator bool() const noexcept { return has_value(); }

  // Precondition: has_value(). Checked by assert in debug builds.
  constexpr T& value() & { return assert(has_value()), *std::get_if<0>(&state_); }
  constexpr const T& value() const& { return assert(has_value()), *std::get_if<0>(&state_); }
  constexpr T&& value() && { return assert(has_value()), std::move(*std::get_if<0>(&state_)); }
  constexpr T& operator*() & { return value(); }
  constexpr const T& operator*() const& { return value(); }
  constexpr T&& operator*() && { return std::move(*this).value(); }
  constexpr T* operator->() { return &value(); }
  constexpr const T* operator->() const { return &value(); }

  // Precondition: !has_value().
  constexpr const E& error() const { return assert(!has_value()), *std::get_if<1>(&state_); }

  template <class U>
  constexpr T value_or(U&& fallback) const& {
    return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, E> state_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  constexpr Result() = default;
  template <class F, class = std::enable_if_t<std::is_convertible_v<F, E>>>
  constexpr Result(Failure<F> failure)  // NOLINT(google-explicit-constructor)
      : failed_(true), error_(std::move(failure.error)) {}

  constexpr bool has_value() const noexcept { return !failed_; }
  constexpr explicit operator bool() const noexcept { return !failed_; }
  constexpr const E& error() const { return assert(failed_), error_; }

 private:
  bool failed_ = false;
  E error_{};
};

}  // namespace qsse
