// Synthetic block-access traces for eviction-policy experiments, shared by
// bench/eviction_trace_bench.cc and tests/cache/eviction_policy_test.cc. Header-only, no
// dependency on cache/.
//
// A trace is a sequence of object ids (one object = one cache block). Every generator is
// deterministic for a given (capacity, seed): its own PRNG (splitmix64) and its own samplers, no
// <random> distributions, whose output differs between standard libraries.
//
// Traces (C = cache capacity in blocks):
//  - HotSetScan: uniform re-reads of a hot set of C/2 blocks; in the middle, one sequential scan of
//    10·C never-repeated blocks interleaved 1:1 with the hot re-reads. 40·C accesses.
//  - Analysis: batch jobs, 4 running at once, their block reads interleaved. A job reads 4 files of
//    a popular dataset (C blocks in 64-block files, files picked by Zipf(0.8)) and 4 files nobody
//    reads again, each file sequentially from start to end. ~40·C accesses.
//  - Zipf(alpha): independent accesses, Zipf(alpha) over 10·C objects. 40·C accesses.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hoardfs::bench {

// splitmix64 step, also used to hash object ids into the policies' 64-bit key hashes.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return Mix64(state_);
  }
  double NextDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  // Uniform in [0, n), n >= 1.
  uint64_t Uniform(uint64_t n) {
    return std::min(n - 1, static_cast<uint64_t>(NextDouble() * static_cast<double>(n)));
  }

 private:
  uint64_t state_;
};

// Ranks 0..n-1 with P(rank k) proportional to 1 / (k + 1)^alpha (inverse CDF by binary search).
class ZipfSampler {
 public:
  ZipfSampler(uint64_t n, double alpha) : cdf_(n) {
    double sum = 0;
    for (uint64_t k = 0; k < n; ++k) {
      sum += 1.0 / std::pow(static_cast<double>(k + 1), alpha);
      cdf_[k] = sum;
    }
    for (double& c : cdf_) c /= sum;
  }
  uint64_t Sample(Rng& rng) const {
    const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), rng.NextDouble());
    return std::min<uint64_t>(static_cast<uint64_t>(it - cdf_.begin()), cdf_.size() - 1);
  }

 private:
  std::vector<double> cdf_;
};

struct Trace {
  std::string name;
  std::vector<uint64_t> ids;
};

// Id spaces of the generators, kept apart so traces never alias by accident.
inline constexpr uint64_t kHotBase = 0;
inline constexpr uint64_t kOnceBase = uint64_t{1} << 40;

inline Trace MakeHotSetScanTrace(uint64_t capacity, uint64_t seed = 1) {
  Trace t{"hot-set+scan", {}};
  Rng rng(seed);
  const uint64_t hot = std::max<uint64_t>(1, capacity / 2);
  const uint64_t scan = 10 * capacity;
  t.ids.reserve(40 * capacity);
  for (uint64_t i = 0; i < 10 * capacity; ++i) t.ids.push_back(kHotBase + rng.Uniform(hot));
  for (uint64_t i = 0; i < scan; ++i) {
    t.ids.push_back(kOnceBase + i);
    t.ids.push_back(kHotBase + rng.Uniform(hot));
  }
  for (uint64_t i = 0; i < 10 * capacity; ++i) t.ids.push_back(kHotBase + rng.Uniform(hot));
  return t;
}

inline Trace MakeAnalysisTrace(uint64_t capacity, uint64_t seed = 2) {
  constexpr uint64_t kFileBlocks = 64;
  constexpr unsigned kConcurrentJobs = 4;
  constexpr unsigned kPopularFilesPerJob = 4;
  constexpr unsigned kOnceFilesPerJob = 4;
  Trace t{"analysis", {}};
  Rng rng(seed);
  const uint64_t popular_files = std::max<uint64_t>(kPopularFilesPerJob, capacity / kFileBlocks);
  const ZipfSampler file_popularity(popular_files, 0.8);
  uint64_t next_once_file = 0;

  struct Job {
    std::vector<uint64_t> files;  // first block id of each file, in reading order
    size_t file = 0;
    uint64_t block = 0;
  };
  auto new_job = [&] {
    Job job;
    while (job.files.size() < kPopularFilesPerJob) {
      const uint64_t first = kHotBase + file_popularity.Sample(rng) * kFileBlocks;
      if (std::find(job.files.begin(), job.files.end(), first) == job.files.end()) {
        job.files.push_back(first);
      }
    }
    for (unsigned i = 0; i < kOnceFilesPerJob; ++i) {
      job.files.push_back(kOnceBase + (next_once_file++) * kFileBlocks);
    }
    for (size_t i = job.files.size() - 1; i > 0; --i) {  // Fisher-Yates: mix popular and once
      std::swap(job.files[i], job.files[rng.Uniform(i + 1)]);
    }
    return job;
  };

  std::vector<Job> jobs;
  for (unsigned i = 0; i < kConcurrentJobs; ++i) jobs.push_back(new_job());
  const uint64_t length = 40 * capacity;
  t.ids.reserve(length);
  while (t.ids.size() < length) {
    Job& job = jobs[rng.Uniform(jobs.size())];
    t.ids.push_back(job.files[job.file] + job.block);
    if (++job.block == kFileBlocks) {
      job.block = 0;
      if (++job.file == job.files.size()) job = new_job();
    }
  }
  return t;
}

inline Trace MakeZipfTrace(uint64_t capacity, double alpha, uint64_t seed = 3) {
  Trace t{"zipf-" + std::to_string(alpha).substr(0, 3), {}};
  Rng rng(seed);
  const ZipfSampler zipf(10 * capacity, alpha);
  t.ids.reserve(40 * capacity);
  for (uint64_t i = 0; i < 40 * capacity; ++i) t.ids.push_back(kHotBase + zipf.Sample(rng));
  return t;
}

// Every trace above, in table order.
inline std::vector<Trace> MakeAllTraces(uint64_t capacity) {
  std::vector<Trace> traces;
  traces.push_back(MakeHotSetScanTrace(capacity));
  traces.push_back(MakeAnalysisTrace(capacity));
  traces.push_back(MakeZipfTrace(capacity, 0.9));
  traces.push_back(MakeZipfTrace(capacity, 1.0));
  return traces;
}

}  // namespace hoardfs::bench
