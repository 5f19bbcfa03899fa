// AlignedBuffer: an owned, fixed-size byte buffer aligned for O_DIRECT I/O (4096 bytes, the
// logical block size of every NVMe and the page size). Move-only; freed on destruction, unless
// it was made by Borrow(): a view of memory that someone else (a pool's slab) owns and outlives it.
// Thread-safety: none; one owner at a time.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <span>
#include <utility>

namespace hoardfs {

inline constexpr size_t kDirectIoAlignment = 4096;

inline constexpr size_t AlignUp(size_t n, size_t alignment = kDirectIoAlignment) {
  return (n + alignment - 1) / alignment * alignment;
}

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // Allocates AlignUp(size) bytes; size() reports `size`. Throws std::bad_alloc when out of memory
  // (caught at thread entries, style rule 4).
  explicit AlignedBuffer(size_t size) : size_(size), capacity_(AlignUp(size == 0 ? 1 : size)) {
    data_ = static_cast<std::byte*>(std::aligned_alloc(kDirectIoAlignment, capacity_));
    if (data_ == nullptr) throw std::bad_alloc();
  }
  // A buffer over `capacity` bytes at `data` (aligned, owned by the caller, who keeps them
  // mapped for as long as the buffer or its moves live); never freed by the buffer.
  static AlignedBuffer Borrow(std::byte* data, size_t capacity) {
    AlignedBuffer b;
    b.data_ = data;
    b.size_ = capacity;
    b.capacity_ = capacity;
    b.borrowed_ = true;
    return b;
  }
  ~AlignedBuffer() { Release(); }
  AlignedBuffer(AlignedBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)),
        borrowed_(std::exchange(other.borrowed_, false)) {}
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
    if (this != &other) {
      Release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, 0);
      borrowed_ = std::exchange(other.borrowed_, false);
    }
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  std::byte* data() { return data_; }
  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  // Bytes actually allocated: size() rounded up to the alignment.
  size_t capacity() const { return capacity_; }
  // Shrinks or grows the logical size within capacity().
  void set_size(size_t size) { size_ = size <= capacity_ ? size : capacity_; }
  std::span<std::byte> span() { return {data_, size_}; }
  std::span<const std::byte> span() const { return {data_, size_}; }
  // Made by Borrow(): the memory belongs to someone else.
  bool borrowed() const { return borrowed_; }

 private:
  void Release() {
    if (!borrowed_) std::free(data_);
  }

  std::byte* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  bool borrowed_ = false;
};

}  // namespace hoardfs
