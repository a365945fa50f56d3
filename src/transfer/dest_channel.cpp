#include "transfer/dest_channel.h"

#include <algorithm>
#include <chrono>

#include "transfer/byte_io.h"
#include "util/error.h"

namespace ktsync {

DestChannel::DestChannel(ByteStream& in, ByteStream& out, std::function<void(const ItemView&)> on_item,
                         bool dest_reports_end)
    // Keepalives start before the reader: a thread that cannot start then leaves no joinable one.
    : in_(in), on_item_(std::move(on_item)), dest_reports_end_(dest_reports_end),
      out_(out, FrameSender::kKeepaliveEvery), reader_([this] { ReadLoop(); }) {}

DestChannel::~DestChannel() {
  {
    std::lock_guard lock(mu_);
    if (!ended_ && !goodbye_ && !error_) in_.ShutdownRead();
  }
  reader_.join();
}

void DestChannel::ReadLoop() {
  try {
    FrameReader reader(in_);
    for (;;) {
      std::optional<Frame> f = reader.Next();
      if (!f) throw Error(ExitCode::SocketIo, in_.peer() + ": connection closed before the run finished");
      if (f->type == FrameType::Item) {
        ItemView item = DecodeItem(f->payload);  // shown as it comes, without our lock
        if (on_item_) on_item_(item);
        continue;
      }
      Handle(f->type, f->payload);
      std::lock_guard lock(mu_);
      if (ended_ || goodbye_) return;
    }
  } catch (...) {
    std::lock_guard lock(mu_);
    error_ = std::current_exception();
    cv_.notify_all();
  }
}

void DestChannel::Handle(FrameType type, std::string_view payload) {
  std::lock_guard lock(mu_);
  switch (type) {
    case FrameType::Credit: {
      int64_t released = credit_.Take(DecodeCredit(payload));
      while (base_ < released) {
        window_.pop_front();
        ++base_;
      }
      break;
    }
    case FrameType::HashRequest:
      requests_.push_back(Lookup(Request::Hashes, payload));
      break;
    case FrameType::SendList:
      requests_.push_back(Lookup(Request::Files, payload));
      break;
    case FrameType::Done:
      if (!requests_ended_) {
        requests_ended_ = true;
      } else if (!dest_reports_end_) {
        goodbye_ = true;
      } else {
        ThrowProtocolError("unexpected second Done from the destination");
      }
      break;
    case FrameType::Report:
      if (!dest_reports_end_) ThrowProtocolError("unexpected Report from the destination");
      end_.Add(DecodeReport(payload));
      break;
    case FrameType::Result:
      if (!dest_reports_end_ || !requests_ended_) ThrowProtocolError("unexpected Result from the destination");
      end_.stats = DecodeStats(payload);
      ended_ = true;
      break;
    case FrameType::Error: {
      ErrorMessage m = DecodeError(payload);
      throw Error(m.code, in_.peer() + ": " + m.message);
    }
    default:
      ThrowProtocolError(std::string("unexpected ") + FrameTypeName(type) + " from the destination");
  }
  cv_.notify_all();
}

DestChannel::Request DestChannel::Lookup(Request::Kind kind, std::string_view payload) {
  if (requests_ended_) ThrowProtocolError("a request after the destination said it was done");
  std::vector<int64_t> indices;
  DecodeIndexList(payload, indices);
  Request r;
  r.kind = kind;
  r.entries.reserve(indices.size());
  for (int64_t i : indices) {
    if (i < base_ || i >= base_ + static_cast<int64_t>(window_.size())) {
      ThrowProtocolError("request for entry " + std::to_string(i) + ", which is not among the " +
                         std::to_string(window_.size()) + " entries it may still ask about");
    }
    Slot& s = window_[static_cast<size_t>(i - base_)];
    bool& asked = kind == Request::Hashes ? s.hash_asked : s.data_asked;
    if (asked) ThrowProtocolError("entry " + std::to_string(i) + " requested twice");
    if (!s.entry.IsFile()) ThrowProtocolError("request for '" + s.entry.path + "', which is not a regular file");
    asked = true;
    r.entries.emplace_back(i, s.entry);
  }
  return r;
}

void DestChannel::WaitFor(std::unique_lock<std::mutex>& lock, const std::function<bool()>& ready) {
  cv_.wait(lock, [&] { return ready() || error_; });
  if (!ready() && error_) std::rethrow_exception(error_);
}

void DestChannel::Sending(const std::function<void()>& send) {
  try {
    send();
  } catch (const Error& sending) {
    if (sending.code() != ExitCode::SocketIo) throw;
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(2), [&] { return error_ != nullptr; });
    if (!error_) throw;
    try {
      std::rethrow_exception(error_);
    } catch (const Error& peer) {
      if (peer.code() != ExitCode::SocketIo) throw;
    }
    throw;
  }
}

void DestChannel::SendBatch(const EntryBatch& b) {
  std::span<const Entry> rest(b.entries);
  while (!rest.empty()) {
    size_t room;
    {
      std::unique_lock lock(mu_);
      WaitFor(lock, [&] { return credit_.Fits(rest) > 0; });
      room = credit_.Fits(rest);
      for (size_t k = 0; k < room; ++k) {
        window_.push_back({rest[k], false, false});
        credit_.Sent(static_cast<int64_t>(EncodedEntryBytes(rest[k])));
      }
    }
    Sending([&] { out_.SendAll(FrameType::ManifestBatch, EncodeEntryBatch, rest.first(room)); });
    rest = rest.subspan(room);
  }
}

void DestChannel::EndManifest() {
  int64_t count;
  {
    std::lock_guard lock(mu_);
    count = credit_.sent();
  }
  Sending([&] { out_.Send(FrameType::ManifestEnd, EncodeManifestEnd, count); });
}

std::optional<DestChannel::Request> DestChannel::NextRequest() {
  std::unique_lock lock(mu_);
  WaitFor(lock, [&] { return !requests_.empty() || requests_ended_; });
  if (requests_.empty()) return std::nullopt;
  Request r = std::move(requests_.front());
  requests_.pop_front();
  return r;
}

void DestChannel::SendHashes(const std::vector<HashReplyItem>& items) {
  out_.SendAll(FrameType::HashReply, EncodeHashReply, std::span<const HashReplyItem>(items));
}

void DestChannel::SendReport(const SessionReport& r) { out_.Send(FrameType::Report, EncodeReport, r); }

void DestChannel::SendResult(const Stats& s) { out_.Send(FrameType::Result, EncodeStats, s); }

PeerEnd DestChannel::AwaitEnd() {
  std::unique_lock lock(mu_);
  WaitFor(lock, [&] { return ended_; });
  return std::move(end_);
}

void DestChannel::SendDone() { out_.SendLast(FrameType::Done); }

void DestChannel::AwaitDone() {
  std::unique_lock lock(mu_);
  WaitFor(lock, [&] { return goodbye_; });
}

void DestChannel::Abort() {
  std::lock_guard lock(mu_);
  if (!error_) error_ = std::make_exception_ptr(Error(ExitCode::SocketIo, "the run was abandoned"));
  cv_.notify_all();
  in_.ShutdownRead();
}

}  // namespace ktsync
