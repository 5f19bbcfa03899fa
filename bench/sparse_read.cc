// sparse_read: the read patterns of the mount benchmark (bench/run_mount_bench.sh) that no stock
// tool makes: a ROOT-like sparse columnar read, reproducible from a seed so that a FUSE mount, a
// local file and a direct HTTP client do exactly the same reads, and N parallel sequential
// readers of distinct files (the scaling case).
//
//   sparse_read pattern SIZE SEED          the ranges, one "offset length" per line
//   sparse_read read FILE SEED [--direct]  pread()s of the pattern over FILE (size from fstat)
//   sparse_read http URL SIZE SEED         the same ranges as HTTP range GETs (libcurl, one
//                                          connection reused, one request after the other)
//   sparse_read xroot URL SEED             the same ranges as root:// reads (XrdCl::File, one
//                                          after the other; size from the open file's stat)
//   sparse_read seq [--direct] FILE...     one thread per file, each reads its file with 1 MiB
//                                          reads (O_DIRECT with --direct), all started together
//   sparse_read xseq URL...                the direct client's seq: one thread per root:// URL,
//                                          each reads its file with 8 MiB XrdCl reads (xrdcp's
//                                          chunk), one after the other, all started together
//   sparse_read hseq URL...                likewise one whole-file GET per http:// URL (libcurl,
//                                          one handle per thread)
//
// read, http, xroot, seq, xseq and hseq print one line: "bytes=B seconds=S requests=N" (B = bytes
// the application read; S = wall time from the first read to the last, opens excluded). Exit status
// 1 on any error or short read.
//
// The pattern (docs/benchmarks.md, "sparse"): the file is cut into 4 MiB clusters; a cluster
// holds the baskets of 50 branches laid out one after the other, each basket 8-160 KiB (uniform,
// then scaled so that the 50 fill the cluster); the analysis reads 5 branches (the same 5 in
// every cluster, chosen by the seed), i.e. 5 baskets per cluster at scattered offsets, about 10 %
// of the file, cluster after cluster, each cluster's baskets in offset order.
#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <XrdCl/XrdClFile.hh>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr uint64_t kCluster = uint64_t{4} << 20;
constexpr int kBranches = 50;
constexpr int kRead = 5;
constexpr uint64_t kMinBasket = 8 << 10;
constexpr uint64_t kMaxBasket = 160 << 10;

struct Range {
  uint64_t offset;
  uint64_t length;
};

std::vector<Range> Pattern(uint64_t size, uint64_t seed) {
  std::mt19937_64 pick(seed);
  std::vector<int> branches(kBranches);
  for (int i = 0; i < kBranches; ++i) branches[i] = i;
  std::shuffle(branches.begin(), branches.end(), pick);
  branches.resize(kRead);
  std::sort(branches.begin(), branches.end());
  std::vector<Range> out;
  for (uint64_t start = 0, c = 0; start < size; start += kCluster, ++c) {
    const uint64_t len = std::min(kCluster, size - start);
    std::mt19937_64 rng(seed * 1000003 + c);
    std::uniform_int_distribution<uint64_t> basket(kMinBasket, kMaxBasket);
    std::vector<uint64_t> sizes(kBranches);
    uint64_t sum = 0;
    for (uint64_t& s : sizes) sum += (s = basket(rng));
    std::vector<uint64_t> offsets(kBranches + 1);
    // Scaled cumulative offsets: basket i spans [offsets[i], offsets[i+1]) within the cluster.
    uint64_t acc = 0;
    for (int i = 0; i < kBranches; ++i) {
      offsets[i] = static_cast<uint64_t>(static_cast<long double>(acc) * len / sum);
      acc += sizes[i];
    }
    offsets[kBranches] = len;
    for (int b : branches) {
      const uint64_t lo = offsets[b], hi = offsets[b + 1];
      if (hi > lo) out.push_back({start + lo, hi - lo});
    }
  }
  return out;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t ParseU64(const char* s) { return std::strtoull(s, nullptr, 10); }

int Usage() {
  std::fprintf(stderr,
               "usage: sparse_read pattern SIZE SEED | read FILE SEED [--direct] | "
               "http URL SIZE SEED | xroot URL SEED | seq [--direct] FILE... | xseq URL... | "
               "hseq URL...\n");
  return 2;
}

// An aligned buffer (O_DIRECT needs it).
char* Buffer(size_t n) {
  void* p = nullptr;
  if (posix_memalign(&p, 4096, n) != 0) return nullptr;
  return static_cast<char*>(p);
}

int ReadPattern(const char* path, uint64_t seed, bool direct) {
  const int fd = ::open(path, O_RDONLY | (direct ? O_DIRECT : 0));
  if (fd < 0) {
    std::perror(path);
    return 1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::perror("fstat");
    return 1;
  }
  std::vector<Range> ranges = Pattern(static_cast<uint64_t>(st.st_size), seed);
  char* buf = Buffer(kMaxBasket * 2 + 8192);
  uint64_t bytes = 0;
  const double t0 = Now();
  for (const Range& r : ranges) {
    // O_DIRECT: read the aligned span around the basket (the application still "reads" length).
    uint64_t off = r.offset, len = r.length;
    if (direct) {
      off = r.offset & ~uint64_t{4095};
      len = ((r.offset + r.length + 4095) & ~uint64_t{4095}) - off;
    }
    uint64_t done = 0;
    while (done < len) {
      const ssize_t n = ::pread(fd, buf + done, len - done, static_cast<off_t>(off + done));
      if (n < 0) {
        std::perror("pread");
        return 1;
      }
      if (n == 0) break;
      done += static_cast<uint64_t>(n);
    }
    if (done < len && off + done < static_cast<uint64_t>(st.st_size)) {
      std::fprintf(stderr, "short read at %llu\n", static_cast<unsigned long long>(off));
      return 1;
    }
    bytes += r.length;
  }
  const double t1 = Now();
  ::close(fd);
  std::printf("bytes=%llu seconds=%.6f requests=%zu\n", static_cast<unsigned long long>(bytes),
              t1 - t0, ranges.size());
  return 0;
}

size_t CountBytes(char*, size_t size, size_t n, void* user) {
  *static_cast<uint64_t*>(user) += size * n;
  return size * n;
}

int HttpPattern(const char* url, uint64_t size, uint64_t seed) {
  std::vector<Range> ranges = Pattern(size, seed);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL* h = curl_easy_init();
  uint64_t got = 0;
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, CountBytes);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &got);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  uint64_t bytes = 0;
  const double t0 = Now();
  for (const Range& r : ranges) {
    const std::string range =
        std::to_string(r.offset) + "-" + std::to_string(r.offset + r.length - 1);
    curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
    got = 0;
    const CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 206 || got != r.length) {
      std::fprintf(stderr, "GET %s range %s: %s, status %ld, %llu bytes\n", url, range.c_str(),
                   curl_easy_strerror(rc), status, static_cast<unsigned long long>(got));
      return 1;
    }
    bytes += got;
  }
  const double t1 = Now();
  curl_easy_cleanup(h);
  std::printf("bytes=%llu seconds=%.6f requests=%zu\n", static_cast<unsigned long long>(bytes),
              t1 - t0, ranges.size());
  return 0;
}

int XrootPattern(const char* url, uint64_t seed) {
  XrdCl::File file;
  XrdCl::XRootDStatus st = file.Open(url, XrdCl::OpenFlags::Read);
  if (!st.IsOK()) {
    std::fprintf(stderr, "open %s: %s\n", url, st.ToString().c_str());
    return 1;
  }
  XrdCl::StatInfo* info = nullptr;
  st = file.Stat(false, info);
  if (!st.IsOK() || info == nullptr) {
    std::fprintf(stderr, "stat %s: %s\n", url, st.ToString().c_str());
    return 1;
  }
  const uint64_t size = info->GetSize();
  delete info;
  std::vector<Range> ranges = Pattern(size, seed);
  std::vector<char> buf(kMaxBasket * 2);
  uint64_t bytes = 0;
  const double t0 = Now();
  for (const Range& r : ranges) {
    uint32_t got = 0;
    st = file.Read(r.offset, static_cast<uint32_t>(r.length), buf.data(), got);
    if (!st.IsOK() || got != r.length) {
      std::fprintf(stderr, "read %s at %llu: %s, %u bytes\n", url,
                   static_cast<unsigned long long>(r.offset), st.ToString().c_str(), got);
      return 1;
    }
    bytes += got;
  }
  const double t1 = Now();
  const XrdCl::XRootDStatus closed = file.Close();
  if (!closed.IsOK()) std::fprintf(stderr, "close %s: %s\n", url, closed.ToString().c_str());
  std::printf("bytes=%llu seconds=%.6f requests=%zu\n", static_cast<unsigned long long>(bytes),
              t1 - t0, ranges.size());
  return 0;
}

// Starts one thread per item, each running `open(item)` and then, once every thread has opened
// its item, `read(opened)` (bytes read, or nullopt on an error); prints the summary line.
template <typename Open, typename Read>
int ParallelStreams(const std::vector<std::string>& items, Open open, Read read) {
  std::atomic<uint64_t> total{0};
  std::atomic<int> errors{0};
  std::atomic<int> waiting{static_cast<int>(items.size())};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (const std::string& item : items) {
    threads.emplace_back([&, item] {
      auto opened = open(item);
      --waiting;
      while (!go) std::this_thread::yield();
      const std::optional<uint64_t> bytes = opened ? read(*opened) : std::nullopt;
      if (bytes) {
        total += *bytes;
      } else {
        ++errors;
      }
    });
  }
  while (waiting > 0) std::this_thread::yield();
  const double t0 = Now();
  go = true;
  for (std::thread& t : threads) t.join();
  const double t1 = Now();
  if (errors > 0) {
    std::fprintf(stderr, "%d readers failed\n", errors.load());
    return 1;
  }
  std::printf("bytes=%llu seconds=%.6f requests=%zu\n",
              static_cast<unsigned long long>(total.load()), t1 - t0, items.size());
  return 0;
}

int ParallelSeq(const std::vector<std::string>& files, bool direct) {
  constexpr size_t kBlock = 1 << 20;
  struct Opened {
    int fd;
    std::shared_ptr<char> buf;
  };
  auto open = [direct](const std::string& f) -> std::optional<Opened> {
    std::shared_ptr<char> buf(Buffer(kBlock), std::free);
    const int fd = ::open(f.c_str(), O_RDONLY | (direct ? O_DIRECT : 0));
    if (fd < 0 || buf == nullptr) {
      std::perror(f.c_str());
      if (fd >= 0) ::close(fd);
      return std::nullopt;
    }
    return Opened{fd, std::move(buf)};
  };
  auto read = [](const Opened& o) -> std::optional<uint64_t> {
    uint64_t off = 0;
    bool ok = true;
    while (ok) {
      const ssize_t n = ::pread(o.fd, o.buf.get(), kBlock, static_cast<off_t>(off));
      ok = n >= 0;
      if (n <= 0) break;
      off += static_cast<uint64_t>(n);
    }
    ::close(o.fd);
    return ok ? std::optional<uint64_t>(off) : std::nullopt;
  };
  return ParallelStreams(files, open, read);
}

int XrootParallelSeq(const std::vector<std::string>& urls) {
  static constexpr uint32_t kChunk = 8 << 20;
  struct Opened {
    std::shared_ptr<XrdCl::File> file;
    std::shared_ptr<std::vector<char>> buf;  // filled here: its pages are not faulted in the read
  };
  auto open = [](const std::string& url) -> std::optional<Opened> {
    auto file = std::make_shared<XrdCl::File>();
    const XrdCl::XRootDStatus st = file->Open(url, XrdCl::OpenFlags::Read);
    if (!st.IsOK()) {
      std::fprintf(stderr, "open %s: %s\n", url.c_str(), st.ToString().c_str());
      return std::nullopt;
    }
    return Opened{std::move(file), std::make_shared<std::vector<char>>(kChunk)};
  };
  auto read = [](const Opened& o) -> std::optional<uint64_t> {
    uint64_t off = 0;
    for (;;) {
      uint32_t got = 0;
      const XrdCl::XRootDStatus st = o.file->Read(off, kChunk, o.buf->data(), got);
      if (!st.IsOK()) {
        std::fprintf(stderr, "read at %llu: %s\n", static_cast<unsigned long long>(off),
                     st.ToString().c_str());
        return std::nullopt;
      }
      off += got;
      if (got < kChunk) break;
    }
    const XrdCl::XRootDStatus closed = o.file->Close();
    if (!closed.IsOK()) std::fprintf(stderr, "close: %s\n", closed.ToString().c_str());
    return off;
  };
  return ParallelStreams(urls, open, read);
}

int HttpParallelSeq(const std::vector<std::string>& urls) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  using Handle = std::shared_ptr<CURL>;
  auto open = [](const std::string& url) -> std::optional<Handle> {
    Handle h(curl_easy_init(), curl_easy_cleanup);
    if (!h) return std::nullopt;
    curl_easy_setopt(h.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, CountBytes);
    curl_easy_setopt(h.get(), CURLOPT_TIMEOUT, 600L);
    curl_easy_setopt(h.get(), CURLOPT_NOSIGNAL, 1L);
    return h;
  };
  auto read = [](const Handle& h) -> std::optional<uint64_t> {
    uint64_t got = 0;
    curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &got);
    const CURLcode rc = curl_easy_perform(h.get());
    long status = 0;
    curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200) {
      std::fprintf(stderr, "GET: %s, status %ld\n", curl_easy_strerror(rc), status);
      return std::nullopt;
    }
    return got;
  };
  return ParallelStreams(urls, open, read);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string mode = argv[1];
  if (mode == "pattern" && argc == 4) {
    for (const Range& r : Pattern(ParseU64(argv[2]), ParseU64(argv[3]))) {
      std::printf("%llu %llu\n", static_cast<unsigned long long>(r.offset),
                  static_cast<unsigned long long>(r.length));
    }
    return 0;
  }
  if (mode == "read" && (argc == 4 || (argc == 5 && std::strcmp(argv[4], "--direct") == 0))) {
    return ReadPattern(argv[2], ParseU64(argv[3]), argc == 5);
  }
  if (mode == "xroot" && argc == 4) return XrootPattern(argv[2], ParseU64(argv[3]));
  if (mode == "http" && argc == 5) return HttpPattern(argv[2], ParseU64(argv[3]), ParseU64(argv[4]));
  if (mode == "seq" && argc >= 3) {
    bool direct = false;
    std::vector<std::string> files;
    for (int i = 2; i < argc; ++i) {
      if (std::strcmp(argv[i], "--direct") == 0) {
        direct = true;
      } else {
        files.emplace_back(argv[i]);
      }
    }
    if (files.empty()) return Usage();
    return ParallelSeq(files, direct);
  }
  if ((mode == "xseq" || mode == "hseq") && argc >= 3) {
    const std::vector<std::string> urls(argv + 2, argv + argc);
    return mode == "xseq" ? XrootParallelSeq(urls) : HttpParallelSeq(urls);
  }
  return Usage();
}
