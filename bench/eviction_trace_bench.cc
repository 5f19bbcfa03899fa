// Trace-driven comparison of the eviction policies (cache/eviction_policy.h): S3-FIFO vs LRU on
// the synthetic traces of bench/trace_gen.h, through the cache simulator of bench/cache_sim.h.
//
// Per (policy, trace) it reports hit ratio, bytes fetched from the remote (misses x 1 MiB blocks)
// and simulated accesses per second, as benchmark counters; then prints a Markdown table for
// docs/benchmarks.md, with Belady's offline optimum (OPT) as the ceiling. A second benchmark
// measures Touch() from 1 and 4 threads (S3-FIFO: one relaxed atomic; LRU: one mutex).
//
// Usage: eviction_trace_bench [--capacity=SLOTS] [google-benchmark flags]
// Deterministic: fixed seeds; hit ratios do not depend on the machine.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bench/cache_sim.h"
#include "bench/trace_gen.h"
#include "cache/eviction_policy.h"

namespace hoardfs::bench {
namespace {

constexpr uint64_t kBlockBytes = uint64_t{1} << 20;
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

struct PolicyKind {
  const char* label;
  std::unique_ptr<EvictionPolicy> (*make)(uint64_t);
};
const PolicyKind kPolicies[] = {{"S3-FIFO", NewS3FifoPolicy}, {"LRU", NewLruPolicy}};

struct Outcome {
  uint64_t hits = 0;
  uint64_t misses = 0;
  double hit_ratio() const {
    return hits + misses == 0 ? 0.0
                              : static_cast<double>(hits) / static_cast<double>(hits + misses);
  }
};

uint64_t g_capacity = 16384;                                        // 16 GiB of 1 MiB blocks
std::vector<Trace> g_traces;                                        // built once in main
std::map<std::pair<std::string, std::string>, Outcome> g_outcomes;  // (trace, policy) -> result

// Belady's MIN: on a miss with a full cache, evict the block whose next use is furthest away.
Outcome Belady(const std::vector<uint64_t>& ids, uint64_t capacity) {
  const uint64_t never = ids.size();
  std::vector<uint64_t> next_use(ids.size());
  std::unordered_map<uint64_t, uint64_t> seen;
  for (uint64_t i = ids.size(); i > 0; --i) {
    const auto it = seen.find(ids[i - 1]);
    next_use[i - 1] = it == seen.end() ? never : it->second;
    seen[ids[i - 1]] = i - 1;
  }
  Outcome o;
  std::set<std::pair<uint64_t, uint64_t>> by_next;  // (next use, id), furthest last
  std::unordered_map<uint64_t, uint64_t> resident;  // id -> its entry's next use
  for (uint64_t i = 0; i < ids.size(); ++i) {
    if (const auto it = resident.find(ids[i]); it != resident.end()) {
      ++o.hits;
      by_next.erase({it->second, ids[i]});
      resident.erase(it);
    } else {
      ++o.misses;
    }
    if (next_use[i] == never) continue;  // never used again: keeping it gains nothing
    if (resident.size() == capacity) {
      const auto furthest = std::prev(by_next.end());
      if (furthest->first < next_use[i]) continue;  // the new block is the one to drop
      resident.erase(furthest->second);
      by_next.erase(furthest);
    }
    resident.emplace(ids[i], next_use[i]);
    by_next.emplace(next_use[i], ids[i]);
  }
  return o;
}

void BM_Trace(benchmark::State& state, const PolicyKind* policy, const Trace* trace) {
  Outcome outcome;
  for (auto _ : state) {
    const std::unique_ptr<EvictionPolicy> p = policy->make(g_capacity);
    CacheSim sim(*p, g_capacity);
    sim.Run(trace->ids);
    if (sim.policy_errors() != 0) {
      state.SkipWithError("policy returned an impossible victim");
      return;
    }
    outcome = Outcome{sim.hits(), sim.misses()};
    benchmark::DoNotOptimize(outcome);
  }
  g_outcomes[{trace->name, policy->label}] = outcome;
  state.counters["hit_ratio"] = outcome.hit_ratio();
  state.counters["bytes_fetched"] =
      benchmark::Counter(static_cast<double>(outcome.misses * kBlockBytes),
                         benchmark::Counter::kDefaults, benchmark::Counter::kIs1024);
  state.counters["ops/s"] = benchmark::Counter(static_cast<double>(trace->ids.size()),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

// Touch() throughput on a full cache; all threads hit random resident slots of one policy.
std::unique_ptr<EvictionPolicy> g_touch_policy[2];

void BM_Touch(benchmark::State& state, int policy) {
  EvictionPolicy& p = *g_touch_policy[policy];
  Rng rng(static_cast<uint64_t>(state.thread_index()) + 1);
  for (auto _ : state) {
    p.Touch(static_cast<uint32_t>(rng.Uniform(g_capacity)));
  }
  state.SetItemsProcessed(state.iterations());
}

void PrintTable() {
  std::printf("\n### Eviction policies on synthetic traces (capacity %llu blocks of 1 MiB)\n\n",
              static_cast<unsigned long long>(g_capacity));
  std::printf(
      "| trace | accesses | S3-FIFO hit ratio | LRU hit ratio | OPT hit ratio "
      "| S3-FIFO fetched | LRU fetched |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  for (const Trace& t : g_traces) {
    const auto s3 = g_outcomes.find({t.name, "S3-FIFO"});
    const auto lru = g_outcomes.find({t.name, "LRU"});
    if (s3 == g_outcomes.end() || lru == g_outcomes.end()) continue;  // filtered out
    const Outcome opt = Belady(t.ids, g_capacity);
    std::printf("| %s | %zu | %.3f | %.3f | %.3f | %.1f GiB | %.1f GiB |\n", t.name.c_str(),
                t.ids.size(), s3->second.hit_ratio(), lru->second.hit_ratio(), opt.hit_ratio(),
                static_cast<double>(s3->second.misses * kBlockBytes) / kGiB,
                static_cast<double>(lru->second.misses * kBlockBytes) / kGiB);
  }
}

}  // namespace
}  // namespace hoardfs::bench

int main(int argc, char** argv) {
  using namespace hoardfs::bench;  // NOLINT: main only
  benchmark::Initialize(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--capacity=", 11) == 0) {
      g_capacity = std::strtoull(argv[i] + 11, nullptr, 10);
    } else {
      std::fprintf(stderr, "unknown flag %s\nusage: %s [--capacity=SLOTS] [benchmark flags]\n",
                   argv[i], argv[0]);
      return 2;
    }
  }
  if (g_capacity < 16) {
    std::fprintf(stderr, "--capacity must be >= 16\n");
    return 2;
  }

  g_traces = hoardfs::bench::MakeAllTraces(g_capacity);
  for (const Trace& t : g_traces) {
    for (const PolicyKind& p : kPolicies) {
      benchmark::RegisterBenchmark(("BM_Trace/" + t.name + "/" + p.label).c_str(), BM_Trace, &p, &t)
          ->Unit(benchmark::kMillisecond);
    }
  }

  for (int i = 0; i < 2; ++i) {
    g_touch_policy[i] = kPolicies[i].make(g_capacity);
    for (uint64_t s = 0; s < g_capacity; ++s) {
      g_touch_policy[i]->Insert(static_cast<uint32_t>(s), Mix64(s));
    }
    benchmark::RegisterBenchmark((std::string("BM_Touch/") + kPolicies[i].label).c_str(), BM_Touch,
                                 i)
        ->Threads(1)
        ->Threads(4)
        ->UseRealTime();
  }

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  PrintTable();
  return 0;
}
