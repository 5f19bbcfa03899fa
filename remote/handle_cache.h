// HandleCache<T>: a small LRU of open handles (file descriptors, XrdCl::File objects) keyed by
// a string (path + version), so repeated reads of one file reuse one open. Handles are shared:
// a reader keeps its handle alive after it is evicted, and the handle closes when its last user
// drops it. Evicted handles are handed back to the caller, to be released outside any lock
// (closing a remote handle is a network round trip).
//
// Thread-safety: all methods are thread-safe (one internal mutex, never held across I/O).
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hoardfs {

template <typename T>
class HandleCache {
 public:
  // capacity 0 caches nothing (Put hands the handle straight back).
  explicit HandleCache(size_t capacity) : capacity_(capacity) {}
  HandleCache(const HandleCache&) = delete;
  HandleCache& operator=(const HandleCache&) = delete;

  // The cached handle for `key` (now the most recently used), or null.
  std::shared_ptr<T> Get(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }

  // Caches `handle` under `key`, replacing any other. Returns the handles that left the cache.
  [[nodiscard]] std::vector<std::shared_ptr<T>> Put(const std::string& key,
                                                    std::shared_ptr<T> handle) {
    std::vector<std::shared_ptr<T>> out;
    if (capacity_ == 0) {
      out.push_back(std::move(handle));
      return out;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = map_.find(key); it != map_.end()) {
      out.push_back(std::move(it->second->second));
      lru_.erase(it->second);
      map_.erase(it);
    }
    lru_.emplace_front(key, std::move(handle));
    map_[key] = lru_.begin();
    while (lru_.size() > capacity_) {
      out.push_back(std::move(lru_.back().second));
      map_.erase(lru_.back().first);
      lru_.pop_back();
    }
    return out;
  }

  // Removes `key` if it still maps to `handle` (a newer handle stays). Returns what was removed.
  [[nodiscard]] std::shared_ptr<T> Remove(const std::string& key, const T* handle) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end() || it->second->second.get() != handle) return nullptr;
    std::shared_ptr<T> out = std::move(it->second->second);
    lru_.erase(it->second);
    map_.erase(it);
    return out;
  }

  // Removes every key that starts with `key_prefix`, except `keep_key`. Returns what was removed.
  [[nodiscard]] std::vector<std::shared_ptr<T>> RemovePrefix(const std::string& key_prefix,
                                                             const std::string& keep_key) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::shared_ptr<T>> out;
    for (auto it = lru_.begin(); it != lru_.end();) {
      if (it->first != keep_key && it->first.compare(0, key_prefix.size(), key_prefix) == 0) {
        out.push_back(std::move(it->second));
        map_.erase(it->first);
        it = lru_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  // Empties the cache, returning every handle.
  [[nodiscard]] std::vector<std::shared_ptr<T>> Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::shared_ptr<T>> out;
    for (auto& entry : lru_) out.push_back(std::move(entry.second));
    lru_.clear();
    map_.clear();
    return out;
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lru_.size();
  }

 private:
  using Entry = std::pair<std::string, std::shared_ptr<T>>;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // GUARDED_BY(mu_), most recently used first
  std::unordered_map<std::string, typename std::list<Entry>::iterator> map_;  // GUARDED_BY(mu_)
};

}  // namespace hoardfs
