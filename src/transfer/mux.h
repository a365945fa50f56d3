// Mux: several ByteStreams carried inside one — the ssh connection's pipes — for when the
// data connections cannot be made as direct TCP (a firewall that passes only port 22, NAT, a
// ProxyJump bastion). Channel 0 is the control channel; the client opens one channel per
// data stream (and a fresh one per rotation), the server accepts them in order.
//
// Wire, below frames: each chunk is a 9-byte header — channel (u32 LE), kind (u8), value
// (u32 LE) — and, for Data, `value` payload bytes.
//   Open    client -> server: a new channel; ids strictly increase (at most kMaxChannels
//           open at once)
//   Data    at most kMaxChunk bytes, never more than the reader has granted
//   Credit  the reader consumed `value` bytes: the writer may send that much more
//   Eof     the writer shut its direction (ShutdownWrite): the reader sees a clean end
//   Close   this end dropped the channel: the peer's reads and writes fail (unless it saw Eof)
// Every channel starts with kWindow bytes of credit, so the thread that demultiplexes never
// waits for a consumer and never writes: one slow channel cannot stall another or the
// control channel, and credits always flow. Everything from the peer is bounded; a
// violation fails every channel with a StreamData error.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "transfer/stream.h"

namespace ktsync {

class MuxCore;

class Mux {
 public:
  enum class Side { Client, Server };
  static constexpr uint32_t kMaxChunk = 256 << 10;
  static constexpr uint32_t kWindow = 4 << 20;
  static constexpr size_t kMaxChannels = 64;
  static constexpr size_t kHeaderBytes = 9;

  // Takes over `carrier` (no one else may read or write it from now on). `owned`, when
  // given, is the carrier itself and lives as long as any channel does.
  Mux(ByteStream& carrier, Side side, std::unique_ptr<ByteStream> owned = nullptr);
  // Stops the demultiplexing thread (Finish first for an orderly end).
  ~Mux();
  Mux(const Mux&) = delete;
  Mux& operator=(const Mux&) = delete;

  std::unique_ptr<ByteStream> Control();  // channel 0; call once
  std::unique_ptr<ByteStream> Open();     // client: a new channel
  // Server: the next channel the client opened. Throws Error(Timeout) when none came.
  std::unique_ptr<ByteStream> Accept(std::chrono::milliseconds timeout);
  // Orderly end: no more writes on the carrier; waits until the peer ends it too.
  void Finish();

 private:
  std::shared_ptr<MuxCore> core_;
};

// Whether `s` is a channel of a Mux (its bytes travel inside ssh).
bool IsMuxChannel(const ByteStream& s);

}  // namespace ktsync
