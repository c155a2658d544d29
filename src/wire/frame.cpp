#include "wire/frame.hpp"

#include <cstring>

#include "wire/utf8.hpp"
#include "wire/varint.hpp"

namespace qsse::wire {

std::string_view to_string(FrameType type) noexcept {
  switch (type) {
    case FrameType::kHello:
      return "hello";
    case FrameType::kWelcome:
      return "welcome";
    case FrameType::kError:
      return "error";
    case FrameType::kEvent:
      return "event";
    case FrameType::kSubscribe:
      return "subscribe";
    case FrameType::kUnsubscribe:
      return "unsubscribe";
    case FrameType::kGoAway:
      return "goaway";
    case FrameType::kGap:
      return "gap";
  }
  return "unknown";
}

std::string_view to_string(DecodeError error) noexcept {
  switch (error) {
    case DecodeError::kNeedMore:
      return "need_more";
    case DecodeError::kTooLarge:
      return "too_large";
    case DecodeError::kNonMinimalVarint:
      return "non_minimal_varint";
    case DecodeError::kMalformed:
      return "malformed";
    case DecodeError::kInvalidUtf8:
      return "invalid_utf8";
    case DecodeError::kTruncated:
      return "truncated";
  }
  return "unknown";
}

std::string_view to_string(EncodeError error) noexcept {
  switch (error) {
    case EncodeError::kBufferTooSmall:
      return "buffer_too_small";
    case EncodeError::kValueOutOfRange:
      return "value_out_of_range";
    case EncodeError::kInvalidText:
      return "invalid_text";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Decoding. A body is parsed by a cursor confined to the body: running out of body bytes is
// kMalformed (the length said the frame ends here), not kNeedMore.

namespace {

// Reads an element of a list the decoder already validated; cannot fail.
const uint8_t* read_trusted_string(const uint8_t* p, std::string_view* out) noexcept {
  uint64_t size = 0;
  (void)read_varint(&p, p + kVarintMaxSize, &size);
  *out = std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(size));
  return p + size;
}

}  // namespace

// Friend of StringList/ResumeList; holds the body-parsing logic.
struct Decoder {
  const uint8_t* pos;
  const uint8_t* end;
  DecodeError error = DecodeError::kMalformed;

  bool fail(DecodeError e) noexcept {
    error = e;
    return false;
  }

  bool varint(uint64_t* value) noexcept {
    switch (read_varint(&pos, end, value)) {
      case VarintStatus::kOk:
        return true;
      case VarintStatus::kNeedMore:
        return fail(DecodeError::kMalformed);
      case VarintStatus::kNonMinimal:
        return fail(DecodeError::kNonMinimalVarint);
    }
    return fail(DecodeError::kMalformed);
  }

  bool bytes(std::string_view* out) noexcept {
    uint64_t size;
    if (!varint(&size)) return false;
    if (size > static_cast<uint64_t>(end - pos)) return fail(DecodeError::kMalformed);
    *out = std::string_view(reinterpret_cast<const char*>(pos), static_cast<size_t>(size));
    pos += size;
    return true;
  }

  bool text(std::string_view* out) noexcept {
    if (!bytes(out)) return false;
    return is_valid_utf8(*out) || fail(DecodeError::kInvalidUtf8);
  }

  bool topic(std::string_view* out) noexcept {
    if (!text(out)) return false;
    return !out->empty() || fail(DecodeError::kMalformed);
  }

  bool code(ErrorCode* out) noexcept {
    uint64_t value;
    if (!varint(&value)) return false;
    *out = static_cast<ErrorCode>(value);
    return true;
  }

  // Each element takes at least one byte, so a count larger than the bytes left is malformed
  // before any element is looked at (this also bounds the validation loop).
  bool count(uint64_t* out, size_t min_element_size) noexcept {
    if (!varint(out)) return false;
    if (*out > static_cast<uint64_t>(end - pos) / min_element_size) {
      return fail(DecodeError::kMalformed);
    }
    return true;
  }

  bool string_list(StringList* out) noexcept {
    uint64_t n;
    if (!count(&n, 1)) return false;
    const uint8_t* start = pos;
    for (uint64_t i = 0; i < n; ++i) {
      std::string_view s;
      if (!text(&s)) return false;
    }
    out->count_ = static_cast<size_t>(n);
    out->elements_ = std::span<const uint8_t>(start, pos);
    return true;
  }

  bool resume_list(ResumeList* out) noexcept {
    uint64_t n;
    if (!count(&n, 2)) return false;
    const uint8_t* start = pos;
    for (uint64_t i = 0; i < n; ++i) {
      std::string_view topic_name;
      uint64_t id;
      if (!topic(&topic_name) || !varint(&id)) return false;
    }
    out->count_ = static_cast<size_t>(n);
    out->elements_ = std::span<const uint8_t>(start, pos);
    return true;
  }

  bool frame_size_limit(uint64_t* out) noexcept {
    if (!varint(out)) return false;
    return *out >= kMinMaxFrameSize || fail(DecodeError::kMalformed);
  }

  bool done() noexcept { return pos == end || fail(DecodeError::kMalformed); }

  bool parse(HelloFrame* f) noexcept {
    return varint(&f->version) && frame_size_limit(&f->max_frame_size) && bytes(&f->token) &&
           string_list(&f->patterns) && varint(&f->resume_epoch) && resume_list(&f->resume) &&
           done();
  }
  bool parse(WelcomeFrame* f) noexcept {
    return varint(&f->version) && varint(&f->server_epoch) &&
           frame_size_limit(&f->max_frame_size) && varint(&f->history_window) &&
           varint(&f->max_patterns) && done();
  }
  bool parse(ErrorFrame* f) noexcept {
    uint64_t fatal;
    if (!code(&f->code) || !varint(&fatal)) return false;
    if (fatal > 1) return fail(DecodeError::kMalformed);
    f->fatal = fatal == 1;
    return text(&f->topic) && text(&f->message) && done();
  }
  bool parse(EventFrame* f) noexcept {
    if (!topic(&f->topic) || !varint(&f->id)) return false;
    if (f->id == 0) return fail(DecodeError::kMalformed);
    f->data = std::span<const uint8_t>(pos, end);
    pos = end;
    return true;
  }
  bool parse(SubscribeFrame* f) noexcept {
    return string_list(&f->patterns) && resume_list(&f->resume) && done();
  }
  bool parse(UnsubscribeFrame* f) noexcept { return string_list(&f->patterns) && done(); }
  bool parse(GoAwayFrame* f) noexcept {
    return code(&f->code) && varint(&f->retry_after_ms) && text(&f->message) && done();
  }
  bool parse(GapFrame* f) noexcept {
    if (!topic(&f->topic) || !varint(&f->first_id) || !varint(&f->last_id) || !code(&f->reason) ||
        !done()) {
      return false;
    }
    if (f->first_id == 0 || f->first_id > f->last_id) return fail(DecodeError::kMalformed);
    return true;
  }
};

StringList::Iterator::Iterator(const uint8_t* next, size_t remaining) noexcept
    : next_(next), remaining_(remaining) {
  if (remaining_ > 0) next_ = read_trusted_string(next_, &current_);
}

StringList::Iterator& StringList::Iterator::operator++() noexcept {
  if (--remaining_ > 0) next_ = read_trusted_string(next_, &current_);
  return *this;
}

ResumeList::Iterator::Iterator(const uint8_t* next, size_t remaining) noexcept
    : next_(next), remaining_(remaining) {
  if (remaining_ > 0) {
    next_ = read_trusted_string(next_, &current_.topic);
    (void)read_varint(&next_, next_ + kVarintMaxSize, &current_.last_id);
  }
}

ResumeList::Iterator& ResumeList::Iterator::operator++() noexcept {
  if (--remaining_ > 0) {
    next_ = read_trusted_string(next_, &current_.topic);
    (void)read_varint(&next_, next_ + kVarintMaxSize, &current_.last_id);
  }
  return *this;
}

Result<FrameHeader, DecodeError> decode_header(std::span<const uint8_t> in,
                                               size_t max_frame_size) noexcept {
  const uint8_t* pos = in.data();
  const uint8_t* end = pos + in.size();
  FrameHeader header;
  for (uint64_t* field : {&header.type, &header.body_size}) {
    switch (read_varint(&pos, end, field)) {
      case VarintStatus::kOk:
        break;
      case VarintStatus::kNeedMore:
        return fail(DecodeError::kNeedMore);
      case VarintStatus::kNonMinimal:
        return fail(DecodeError::kNonMinimalVarint);
    }
  }
  header.header_size = static_cast<size_t>(pos - in.data());
  // body_size <= 2^62 - 1, so the sum cannot overflow a 64-bit size_t.
  if (header.body_size + header.header_size > max_frame_size) {
    return fail(DecodeError::kTooLarge);
  }
  return header;
}

namespace {

template <class F>
Result<Frame, DecodeError> parse_body(const FrameHeader& header, const uint8_t* start) noexcept {
  const uint8_t* body = start + header.header_size;
  Decoder d{body, body + header.body_size};
  Frame frame{header.type, header.frame_size(), {start, header.frame_size()}, F{}};
  if (!d.parse(&std::get<F>(frame.body))) return fail(d.error);
  return frame;
}

}  // namespace

Result<Frame, DecodeError> decode(std::span<const uint8_t> in, size_t max_frame_size) noexcept {
  auto header = decode_header(in, max_frame_size);
  if (!header) return fail(header.error());
  if (in.size() < header->frame_size()) return fail(DecodeError::kNeedMore);
  const uint8_t* start = in.data();
  switch (static_cast<FrameType>(header->type)) {
    case FrameType::kEvent:
      return parse_body<EventFrame>(*header, start);
    case FrameType::kHello:
      return parse_body<HelloFrame>(*header, start);
    case FrameType::kWelcome:
      return parse_body<WelcomeFrame>(*header, start);
    case FrameType::kError:
      return parse_body<ErrorFrame>(*header, start);
    case FrameType::kSubscribe:
      return parse_body<SubscribeFrame>(*header, start);
    case FrameType::kUnsubscribe:
      return parse_body<UnsubscribeFrame>(*header, start);
    case FrameType::kGoAway:
      return parse_body<GoAwayFrame>(*header, start);
    case FrameType::kGap:
      return parse_body<GapFrame>(*header, start);
  }
  const std::span<const uint8_t> body(start + header->header_size,
                                      static_cast<size_t>(header->body_size));
  return Frame{header->type,
               header->frame_size(),
               {start, header->frame_size()},
               UnknownFrame{header->type, body}};
}

// ---------------------------------------------------------------------------------------------
// Encoding: every encoder first sizes the body (and validates), then writes header and body.

namespace {

size_t string_size(size_t size) noexcept {
  return varint_size(size) + size;
}

size_t frame_size_for(uint64_t type, size_t body_size) noexcept {
  return varint_size(type) + varint_size(body_size) + body_size;
}

size_t string_list_size(std::span<const std::string_view> list) noexcept {
  size_t size = varint_size(list.size());
  for (std::string_view s : list) size += string_size(s.size());
  return size;
}

size_t resume_list_size(std::span<const ResumePosition> list) noexcept {
  size_t size = varint_size(list.size());
  for (const ResumePosition& r : list) size += string_size(r.topic.size()) + varint_size(r.last_id);
  return size;
}

// Validation result used while building; kOk-like when empty.
struct Check {
  bool ok = true;
  EncodeError error = EncodeError::kValueOutOfRange;

  Check& value(uint64_t v) noexcept {
    if (ok && v > kVarintMax) *this = Check{false, EncodeError::kValueOutOfRange};
    return *this;
  }
  Check& rule(bool holds) noexcept {
    if (ok && !holds) *this = Check{false, EncodeError::kValueOutOfRange};
    return *this;
  }
  Check& text(std::string_view s) noexcept {
    if (ok && !is_valid_utf8(s)) *this = Check{false, EncodeError::kInvalidText};
    return *this;
  }
  Check& topic(std::string_view s) noexcept {
    if (ok && s.empty()) *this = Check{false, EncodeError::kInvalidText};
    return text(s);
  }
  Check& patterns(std::span<const std::string_view> list) noexcept {
    for (std::string_view s : list) text(s);
    return *this;
  }
  Check& resume(std::span<const ResumePosition> list) noexcept {
    for (const ResumePosition& r : list) topic(r.topic).value(r.last_id);
    return *this;
  }
};

class Writer {
 public:
  explicit Writer(uint8_t* out) noexcept : start_(out), pos_(out) {}
  Writer& varint(uint64_t v) noexcept {
    pos_ = write_varint(pos_, v);
    return *this;
  }
  Writer& raw(const void* data, size_t size) noexcept {
    if (size != 0) std::memcpy(pos_, data, size);
    pos_ += size;
    return *this;
  }
  Writer& string(std::string_view s) noexcept { return varint(s.size()).raw(s.data(), s.size()); }
  Writer& code(ErrorCode c) noexcept { return varint(static_cast<uint64_t>(c)); }
  Writer& patterns(std::span<const std::string_view> list) noexcept {
    varint(list.size());
    for (std::string_view s : list) string(s);
    return *this;
  }
  Writer& resume(std::span<const ResumePosition> list) noexcept {
    varint(list.size());
    for (const ResumePosition& r : list) string(r.topic).varint(r.last_id);
    return *this;
  }
  size_t written() const noexcept { return static_cast<size_t>(pos_ - start_); }

 private:
  uint8_t* start_;
  uint8_t* pos_;
};

// Checks parameters and room, writes the header, and lets `body` write the rest.
template <class BodyWriter>
Result<size_t, EncodeError> write_frame(std::span<uint8_t> out, FrameType type, size_t body_size,
                                        const Check& check, BodyWriter&& body) noexcept {
  if (!check.ok) return fail(check.error);
  const size_t total = frame_size_for(static_cast<uint64_t>(type), body_size);
  if (out.size() < total) return fail(EncodeError::kBufferTooSmall);
  Writer w(out.data());
  w.varint(static_cast<uint64_t>(type)).varint(body_size);
  body(w);
  return w.written();
}

size_t hello_body_size(const HelloParams& p) noexcept {
  return varint_size(p.version) + varint_size(p.max_frame_size) + string_size(p.token.size()) +
         string_list_size(p.patterns) + varint_size(p.resume_epoch) + resume_list_size(p.resume);
}
size_t welcome_body_size(const WelcomeFrame& p) noexcept {
  return varint_size(p.version) + varint_size(p.server_epoch) + varint_size(p.max_frame_size) +
         varint_size(p.history_window) + varint_size(p.max_patterns);
}
size_t error_body_size(const ErrorFrame& p) noexcept {
  return varint_size(static_cast<uint64_t>(p.code)) + 1 + string_size(p.topic.size()) +
         string_size(p.message.size());
}
size_t event_body_header_size(size_t topic_size, uint64_t id) noexcept {
  return string_size(topic_size) + varint_size(id);
}
size_t subscribe_body_size(const SubscribeParams& p) noexcept {
  return string_list_size(p.patterns) + resume_list_size(p.resume);
}
size_t go_away_body_size(const GoAwayFrame& p) noexcept {
  return varint_size(static_cast<uint64_t>(p.code)) + varint_size(p.retry_after_ms) +
         string_size(p.message.size());
}
size_t gap_body_size(const GapFrame& p) noexcept {
  return string_size(p.topic.size()) + varint_size(p.first_id) + varint_size(p.last_id) +
         varint_size(static_cast<uint64_t>(p.reason));
}

constexpr uint64_t kEventType = static_cast<uint64_t>(FrameType::kEvent);

}  // namespace

size_t encoded_size(const HelloParams& p) noexcept {
  return frame_size_for(static_cast<uint64_t>(FrameType::kHello), hello_body_size(p));
}
size_t encoded_size(const WelcomeFrame& p) noexcept {
  return frame_size_for(static_cast<uint64_t>(FrameType::kWelcome), welcome_body_size(p));
}
size_t encoded_size(const ErrorFrame& p) noexcept {
  return frame_size_for(static_cast<uint64_t>(FrameType::kError), error_body_size(p));
}
size_t encoded_size(const EventFrame& p) noexcept {
  return event_size(p.topic.size(), p.id, p.data.size());
}
size_t encoded_size(const SubscribeParams& p) noexcept {
  return frame_size_for(static_cast<uint64_t>(FrameType::kSubscribe), subscribe_body_size(p));
}
size_t encoded_size(const UnsubscribeParams& p) noexcept {
  return frame_size_for(static_cast<uint64_t>(FrameType::kUnsubscribe),
                        string_list_size(p.patterns));
}
size_t encoded_size(const GoAwayFrame& p) noexcept {
  return frame_size_for(static_cast<uint64_t>(FrameType::kGoAway), go_away_body_size(p));
}
size_t encoded_size(const GapFrame& p) noexcept {
  return frame_size_for(static_cast<uint64_t>(FrameType::kGap), gap_body_size(p));
}

Result<size_t, EncodeError> encode(std::span<uint8_t> out, const HelloParams& p) noexcept {
  Check check;
  check.value(p.version)
      .value(p.max_frame_size)
      .rule(p.max_frame_size >= kMinMaxFrameSize)
      .value(p.resume_epoch)
      .patterns(p.patterns)
      .resume(p.resume);
  return write_frame(out, FrameType::kHello, hello_body_size(p), check, [&](Writer& w) {
    w.varint(p.version).varint(p.max_frame_size).string(p.token).patterns(p.patterns);
    w.varint(p.resume_epoch).resume(p.resume);
  });
}

Result<size_t, EncodeError> encode(std::span<uint8_t> out, const WelcomeFrame& p) noexcept {
  Check check;
  check.value(p.version)
      .value(p.server_epoch)
      .value(p.max_frame_size)
      .rule(p.max_frame_size >= kMinMaxFrameSize)
      .value(p.history_window)
      .value(p.max_patterns);
  return write_frame(out, FrameType::kWelcome, welcome_body_size(p), check, [&](Writer& w) {
    w.varint(p.version).varint(p.server_epoch).varint(p.max_frame_size);
    w.varint(p.history_window).varint(p.max_patterns);
  });
}

Result<size_t, EncodeError> encode(std::span<uint8_t> out, const ErrorFrame& p) noexcept {
  Check check;
  check.value(static_cast<uint64_t>(p.code)).text(p.topic).text(p.message);
  return write_frame(out, FrameType::kError, error_body_size(p), check, [&](Writer& w) {
    w.code(p.code).varint(p.fatal ? 1 : 0).string(p.topic).string(p.message);
  });
}

Result<size_t, EncodeError> encode(std::span<uint8_t> out, const EventFrame& p) noexcept {
  return encode_event(out, p.topic, p.id, p.data);
}

Result<size_t, EncodeError> encode(std::span<uint8_t> out, const SubscribeParams& p) noexcept {
  Check check;
  check.patterns(p.patterns).resume(p.resume);
  return write_frame(out, FrameType::kSubscribe, subscribe_body_size(p), check,
                     [&](Writer& w) { w.patterns(p.patterns).resume(p.resume); });
}

Result<size_t, EncodeError> encode(std::span<uint8_t> out, const UnsubscribeParams& p) noexcept {
  Check check;
  check.patterns(p.patterns);
  return write_frame(out, FrameType::kUnsubscribe, string_list_size(p.patterns), check,
                     [&](Writer& w) { w.patterns(p.patterns); });
}

Result<size_t, EncodeError> encode(std::span<uint8_t> out, const GoAwayFrame& p) noexcept {
  Check check;
  check.value(static_cast<uint64_t>(p.code)).value(p.retry_after_ms).text(p.message);
  return write_frame(out, FrameType::kGoAway, go_away_body_size(p), check,
                     [&](Writer& w) { w.code(p.code).varint(p.retry_after_ms).string(p.message); });
}

Result<size_t, EncodeError> encode(std::span<uint8_t> out, const GapFrame& p) noexcept {
  Check check;
  check.topic(p.topic)
      .value(p.first_id)
      .value(p.last_id)
      .value(static_cast<uint64_t>(p.reason))
      .rule(p.first_id >= 1 && p.first_id <= p.last_id);
  return write_frame(out, FrameType::kGap, gap_body_size(p), check, [&](Writer& w) {
    w.string(p.topic).varint(p.first_id).varint(p.last_id).code(p.reason);
  });
}

size_t event_size(size_t topic_size, uint64_t id, size_t data_size) noexcept {
  return frame_size_for(kEventType, event_body_header_size(topic_size, id) + data_size);
}

size_t event_header_size(size_t topic_size, uint64_t id, size_t data_size) noexcept {
  return event_size(topic_size, id, data_size) - data_size;
}

namespace {

// Validates an EVENT's fields and sizes it; the error, if any, comes back through *error.
bool check_event(std::string_view topic, uint64_t id, size_t data_size,
                 EncodeError* error) noexcept {
  if (topic.empty() || !is_valid_utf8(topic)) {
    *error = EncodeError::kInvalidText;
    return false;
  }
  if (id == 0 || id > kVarintMax || data_size > kVarintMax / 2) {
    *error = EncodeError::kValueOutOfRange;
    return false;
  }
  return true;
}

uint8_t* write_event_header(uint8_t* out, std::string_view topic, uint64_t id,
                            size_t data_size) noexcept {
  const size_t body_size = event_body_header_size(topic.size(), id) + data_size;
  Writer w(out);
  w.varint(kEventType).varint(body_size).string(topic).varint(id);
  return out + w.written();
}

}  // namespace

Result<size_t, EncodeError> encode_event_header(std::span<uint8_t> out, std::string_view topic,
                                                uint64_t id, size_t data_size) noexcept {
  EncodeError error;
  if (!check_event(topic, id, data_size, &error)) return fail(error);
  const size_t size = event_header_size(topic.size(), id, data_size);
  if (out.size() < size) return fail(EncodeError::kBufferTooSmall);
  write_event_header(out.data(), topic, id, data_size);
  return size;
}

Result<size_t, EncodeError> encode_event(std::span<uint8_t> out, std::string_view topic,
                                         uint64_t id, std::span<const uint8_t> data) noexcept {
  EncodeError error;
  if (!check_event(topic, id, data.size(), &error)) return fail(error);
  const size_t size = event_size(topic.size(), id, data.size());
  if (out.size() < size) return fail(EncodeError::kBufferTooSmall);
  uint8_t* payload = write_event_header(out.data(), topic, id, data.size());
  if (!data.empty()) std::memcpy(payload, data.data(), data.size());
  return size;
}

}  // namespace qsse::wire
