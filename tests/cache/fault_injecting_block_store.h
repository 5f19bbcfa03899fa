// FaultInjectingBlockStore: a BlockStore wrapper that makes the cache disk misbehave on demand, so
// tests can check that the layers above never turn a cache fault into an application error
// (architecture.md, "Never EIO from the cache").
//
// It owns a real (or fake) BlockStore and forwards every call to it, except where a knob says
// otherwise:
//   set_fail_reads(true)      every op of Read() gets kIOError without touching the inner store;
//                             on_complete still runs once per op.
//   set_fail_writes(true)     every op of Write() gets kIOError; nothing is written.
//   set_fail_ensure_capacity  Allocate() and Grow() return kResourceExhausted; nothing grows.
//   set_hold_writes(true)     Write() waits until it is set back to false (a disk that stalls):
//                             held_writes() counts the Write() calls that waited so far.
//   set_corrupt_reads(true)   reads go to the inner store; each op that completes OK has one byte
//                             of its buffer flipped (byte length / 2, XOR 0xFF) before on_complete
//                             runs, as a torn or bit-rotted block would look. Status stays OK: it
//                             is the caller's checksum that must catch it.
// Counters report how many faults were injected (per op, or per Allocate/Grow call).
//
// Thread-safety: like any BlockStore, every method may be called from any number of threads. The
// knobs and counters are atomics and may be flipped or read at any time; an op sees the knob value
// read when its batch starts (Read/Write) or when it completes (corrupt_reads).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <utility>

#include "cache/block_store.h"

namespace hoardfs::testing {

class FaultInjectingBlockStore final : public BlockStore {
 public:
  // REQUIRES: inner != nullptr.
  explicit FaultInjectingBlockStore(std::unique_ptr<BlockStore> inner)
      : BlockStore(inner->block_size()), inner_(std::move(inner)) {}

  void set_fail_reads(bool on) { fail_reads_.store(on); }
  void set_fail_writes(bool on) { fail_writes_.store(on); }
  void set_fail_ensure_capacity(bool on) { fail_ensure_capacity_.store(on); }
  void set_corrupt_reads(bool on) { corrupt_reads_.store(on); }
  void set_hold_writes(bool on) {
    {
      std::lock_guard<std::mutex> lock(hold_mu_);
      hold_writes_ = on;
    }
    hold_cv_.notify_all();
  }
  uint64_t held_writes() const { return held_writes_.load(); }

  uint64_t injected_read_failures() const { return read_failures_.load(); }
  uint64_t injected_write_failures() const { return write_failures_.load(); }
  uint64_t injected_capacity_failures() const { return capacity_failures_.load(); }
  uint64_t injected_corruptions() const { return corruptions_.load(); }

  BlockStore& inner() { return *inner_; }

  uint64_t class_slots(unsigned size_class) const override {
    return inner_->class_slots(size_class);
  }
  bool direct_io() const override { return inner_->direct_io(); }
  uint64_t write_transfers() const override { return inner_->write_transfers(); }
  uint64_t read_transfers() const override { return inner_->read_transfers(); }
  uint32_t block_size() const override { return inner_->block_size(); }

  Status Allocate(unsigned size_class, uint64_t first, uint64_t count) override {
    if (fail_ensure_capacity_.load()) {
      capacity_failures_.fetch_add(1);
      return Status::ResourceExhausted("injected fault: Allocate");
    }
    return inner_->Allocate(size_class, first, count);
  }
  Status Grow(unsigned size_class, uint64_t slots) override {
    if (fail_ensure_capacity_.load()) {
      capacity_failures_.fetch_add(1);
      return Status::ResourceExhausted("injected fault: Grow");
    }
    return inner_->Grow(size_class, slots);
  }
  Status Deallocate(std::span<const uint32_t> slots) override { return inner_->Deallocate(slots); }

  void Read(std::span<BlockIo> ops,
            const std::function<void(BlockIo&)>& on_complete = nullptr) override {
    if (fail_reads_.load()) {
      for (BlockIo& op : ops) {
        op.status = Status::IOError("injected fault: read");
        read_failures_.fetch_add(1);
        if (on_complete) on_complete(op);
      }
      return;
    }
    inner_->Read(ops, [&](BlockIo& op) {
      if (op.status.ok() && op.length > 0 && op.buf != nullptr && corrupt_reads_.load()) {
        static_cast<std::byte*>(op.buf)[op.length / 2] ^= std::byte{0xFF};
        corruptions_.fetch_add(1);
      }
      if (on_complete) on_complete(op);
    });
  }

  void Write(std::span<BlockIo> ops) override {
    {
      std::unique_lock<std::mutex> lock(hold_mu_);
      if (hold_writes_) {
        held_writes_.fetch_add(1);
        hold_cv_.wait(lock, [&] { return !hold_writes_; });
      }
    }
    if (fail_writes_.load()) {
      for (BlockIo& op : ops) {
        op.status = Status::IOError("injected fault: write");
        write_failures_.fetch_add(1);
      }
      return;
    }
    inner_->Write(ops);
  }

 private:
  const std::unique_ptr<BlockStore> inner_;
  std::atomic<bool> fail_reads_{false};
  std::atomic<bool> fail_writes_{false};
  std::atomic<bool> fail_ensure_capacity_{false};
  std::atomic<bool> corrupt_reads_{false};
  std::atomic<uint64_t> read_failures_{0};
  std::atomic<uint64_t> write_failures_{0};
  std::atomic<uint64_t> capacity_failures_{0};
  std::atomic<uint64_t> corruptions_{0};
  std::mutex hold_mu_;
  std::condition_variable hold_cv_;
  bool hold_writes_ = false;  // GUARDED_BY(hold_mu_)
  std::atomic<uint64_t> held_writes_{0};
};

}  // namespace hoardfs::testing
