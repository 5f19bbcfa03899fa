// DavSource against two real WebDAV servers started by the test over the same generated dataset:
// XRootD's HTTP plugin (tests/support/xrootd_server.h; no ETags) and nginx with dav-ext
// (tests/support/nginx_dav_server.h; ETags on GET, bearer tokens enforced under /auth/).
// A second nginx of its own (`pki`) serves the same data over https with client certificates
// (a throw-away CA made with the openssl CLI) and plays a storage door redirecting GETs to a pool.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "remote/object_source.h"
#include "tests/support/dataset.h"
#include "tests/support/nginx_dav_server.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/scripted_http_server.h"
#include "tests/support/xrootd_server.h"

namespace hoardfs {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Dataset;
using testing::ScratchDir;

constexpr const char* kToken = "tok-Abc.123_secret-value";

std::span<std::byte> Bytes(std::string& s) {
  return std::as_writable_bytes(std::span<char>(s.data(), s.size()));
}

struct World {
  ScratchDir dir;
  std::optional<Dataset> dataset;
  std::unique_ptr<testing::XRootDServer> xrootd;
  std::unique_ptr<testing::NginxDavServer> nginx;
  std::string error;
  // nginx with options.tls and options.redirects.
  std::unique_ptr<testing::NginxDavServer> pki;
  std::string pki_error;
};

World& TheWorld() {
  static World world;
  return world;
}

class WorldEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    World& w = TheWorld();
    auto dir = ScratchDir::CreateInMemory("hoardfs-dav-");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    w.dir = std::move(dir).value();
    testing::DatasetOptions dopts;
    dopts.large_file_size = uint64_t{16} << 20;
    dopts.big_dir_entries = 3000;
    auto ds = Dataset::Generate(w.dir.Sub("data"), dopts);
    ASSERT_TRUE(ds.ok()) << ds.status().ToString();
    w.dataset.emplace(std::move(ds).value());
    if (!testing::XRootDServer::FindBinary().empty()) {
      testing::XRootDServerOptions o;
      o.data_dir = w.dir.Sub("data");
      o.http = true;
      auto s = testing::XRootDServer::Start(o);
      if (s.ok()) {
        w.xrootd = std::move(s).value();
      } else {
        w.error += s.status().ToString();
      }
    }
    if (testing::NginxDavServer::Installed()) {
      auto s = testing::NginxDavServer::Start(w.dir.Sub("data"), kToken);
      if (s.ok()) {
        w.nginx = std::move(s).value();
      } else {
        w.error += s.status().ToString();
      }
      if (testing::NginxDavServer::OpensslInstalled()) {
        testing::NginxDavServerOptions o;
        o.data_dir = w.dir.Sub("data");
        o.token = kToken;
        o.tls = true;
        o.redirects = true;
        auto p = testing::NginxDavServer::Start(o);
        if (p.ok()) {
          w.pki = std::move(p).value();
        } else {
          w.pki_error = p.status().ToString();
        }
      }
    }
  }
  void TearDown() override {
    World& w = TheWorld();
    w.xrootd.reset();
    w.nginx.reset();
    w.pki.reset();
    w.dataset.reset();
    w.dir = ScratchDir();
  }
};

[[maybe_unused]] const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new WorldEnvironment);

RemoteOptions Options() {
  RemoteOptions o;
  o.timeout = std::chrono::seconds(10);
  return o;
}

class DavSourceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    World& w = TheWorld();
    if (GetParam() == "xrootd") {
      if (testing::XRootDServer::FindBinary().empty()) GTEST_SKIP() << "xrootd not installed";
      ASSERT_NE(w.xrootd, nullptr) << w.error;
      base_ = w.xrootd->HttpUrl();
    } else {
      if (!testing::NginxDavServer::Installed()) GTEST_SKIP() << "nginx dav-ext not installed";
      ASSERT_NE(w.nginx, nullptr) << w.error;
      base_ = w.nginx->Url();
    }
    auto src = OpenObjectSource(base_, Options());
    ASSERT_TRUE(src.ok()) << src.status().ToString();
    source_ = std::move(src).value();
  }
  const Dataset& ds() const { return *TheWorld().dataset; }
  ObjectRef RefOf(const std::string& path) {
    Result<ObjectInfo> info = source_->Stat(path);
    EXPECT_TRUE(info.ok()) << path << ": " << info.status().ToString();
    return {path, info.ok() ? info->version : "", info.ok() ? info->size : 0};
  }
  std::string base_;
  std::unique_ptr<ObjectSource> source_;
};

TEST_P(DavSourceTest, StatFilesDirectoriesAndMissing) {
  Result<ObjectInfo> root = source_->Stat("/");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(root->type, ObjectType::kDirectory);
  int checked = 0;
  for (const testing::DatasetEntry& e : ds().entries()) {
    if (e.path.rfind(Dataset::kBigDir + std::string("/"), 0) == 0 && e.path.back() != '7') {
      continue;
    }
    Result<ObjectInfo> info = source_->Stat(e.path);
    ASSERT_TRUE(info.ok()) << e.path << ": " << info.status().ToString();
    EXPECT_EQ(info->type, e.type) << e.path;
    if (e.type == ObjectType::kFile) {
      EXPECT_EQ(info->size, e.size) << e.path;
      EXPECT_FALSE(info->version.empty());
      EXPECT_GT(info->mtime_ns, 0);
    }
    ++checked;
  }
  EXPECT_GT(checked, 300);
  for (const char* missing : {"/nope", "/small/nope", "/emptydir/x", "/smal"}) {
    EXPECT_EQ(source_->Stat(missing).status().code(), StatusCode::kNotFound) << missing;
  }
}

TEST_P(DavSourceTest, ListEveryDirectoryMatchesTheDataset) {
  for (const std::string& dir : ds().Directories()) {
    Result<ListPage> page = source_->List(dir, "");
    ASSERT_TRUE(page.ok()) << dir << ": " << page.status().ToString();
    EXPECT_TRUE(page->next_token.empty());
    std::map<std::string, std::tuple<ObjectType, uint64_t>> actual;
    for (const ObjectInfo& e : page->entries) {
      EXPECT_TRUE(actual.emplace(e.name, std::make_tuple(e.type, e.size)).second) << e.name;
    }
    std::map<std::string, std::tuple<ObjectType, uint64_t>> expected;
    for (const testing::DatasetEntry* e : ds().Children(dir)) {
      expected.emplace(e->path.substr(e->path.rfind('/') + 1), std::make_tuple(e->type, e->size));
    }
    EXPECT_EQ(actual, expected) << dir;
    if (dir == Dataset::kBigDir) {
      EXPECT_EQ(page->entries.size(), 3000u);
    }
  }
  EXPECT_EQ(source_->List("/missing", "").status().code(), StatusCode::kNotFound);
  // A file is not a directory: nginx answers PROPFIND on "<file>/" with 404, XRootD 5.5's HTTP
  // door with a 5xx; either way a Stat tells the file apart from a missing path.
  EXPECT_EQ(source_->List(Dataset::kLargeFile, "").status().code(), StatusCode::kInvalidArgument);
}

TEST_P(DavSourceTest, ReadsAndReadV) {
  for (const char* path : {Dataset::kSpaceFile, Dataset::kUnicodeFile}) {
    const ObjectRef ref = RefOf(path);
    std::string buf(ref.size, '\0');
    Result<size_t> n = source_->Read(ref, 0, Bytes(buf));
    ASSERT_TRUE(n.ok()) << path << ": " << n.status().ToString();
    EXPECT_EQ(buf, ds().Bytes(path, 0, ref.size));
  }
  const ObjectRef empty = RefOf(Dataset::kEmptyFile);
  std::string b10(10, '\0');
  ASSERT_TRUE(source_->Read(empty, 0, Bytes(b10)).ok());
  EXPECT_EQ(source_->Read({"/nope", "", 10}, 0, Bytes(b10)).status().code(), StatusCode::kNotFound);
  const ObjectRef ref = RefOf(Dataset::kLargeFile);
  const uint64_t size = ref.size;
  for (auto [off, len] : std::vector<std::pair<uint64_t, size_t>>{
           {0, 1 << 20}, {12345, 100000}, {size - 100, 4096}, {size, 10}, {7, 3 << 20}}) {
    std::string buf(len, '\0');
    Result<size_t> n = source_->Read(ref, off, Bytes(buf));
    ASSERT_TRUE(n.ok()) << off << ": " << n.status().ToString();
    const std::string expected = ds().Bytes(Dataset::kLargeFile, off, len);
    ASSERT_EQ(*n, expected.size());
    EXPECT_TRUE(buf.compare(0, *n, expected) == 0) << off;
  }
  std::mt19937_64 rng(7);
  std::vector<std::pair<uint64_t, size_t>> spec;
  for (int i = 0; i < 500; ++i) {
    const size_t len = 1 + rng() % (64 << 10);
    spec.emplace_back(rng() % (size - len), len);
  }
  spec.emplace_back(size - 500, 2000);  // across the end: clamped
  spec.emplace_back(size + 10, 100);    // past it
  std::vector<std::string> bufs;
  bufs.reserve(spec.size());
  std::vector<ReadRange> ranges(spec.size());
  for (size_t i = 0; i < spec.size(); ++i) {
    bufs.emplace_back(spec[i].second, '\0');
    ranges[i].offset = spec[i].first;
    ranges[i].out = Bytes(bufs.back());
  }
  const auto start = Clock::now();
  Status s = source_->ReadV(ref, ranges);
  std::printf("[ readv    ] %s: %zu ranges in %.3f s\n", GetParam().c_str(), spec.size(),
              std::chrono::duration<double>(Clock::now() - start).count());
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (size_t i = 0; i < spec.size(); ++i) {
    ASSERT_TRUE(ranges[i].status.ok()) << i << ": " << ranges[i].status.ToString();
    const std::string expected = ds().Bytes(Dataset::kLargeFile, spec[i].first, spec[i].second);
    ASSERT_EQ(ranges[i].bytes_read, expected.size()) << i;
    EXPECT_TRUE(bufs[i].compare(0, expected.size(), expected) == 0) << "range " << i;
  }
  // A wrong version is refused. XRootD 5.5's HTTP door sends neither ETag nor Last-Modified with
  // a GET (or a HEAD), only the size in Content-Range: there a stale "<size>-<mtime>" version is
  // caught by a size change only (a same-size rewrite is caught at open, by PROPFIND's
  // getlastmodified), so the same-size case is asserted against nginx.
  if (GetParam() != "xrootd") {
    ObjectRef stale = ref;
    stale.version = "0-0";
    EXPECT_EQ(source_->Read(stale, 0, Bytes(b10)).status().code(), StatusCode::kFailedPrecondition);
  }
}

INSTANTIATE_TEST_SUITE_P(Servers, DavSourceTest, ::testing::Values("xrootd", "nginx"));

TEST(DavBearerTokenTest, EnforcedByNginxAndRotated) {
  World& w = TheWorld();
  if (!testing::NginxDavServer::Installed()) GTEST_SKIP() << "nginx dav-ext not installed";
  ASSERT_NE(w.nginx, nullptr) << w.error;
  const std::string token_file = w.dir.Sub("token");
  const std::string wrong = "wrong-token-XYZ987";
  { std::ofstream(token_file) << wrong << "\n"; }
  RemoteOptions o = Options();
  o.dav.bearer_token_file = token_file;
  o.down_retry = std::chrono::milliseconds(0);
  auto src = OpenObjectSource(w.nginx->Url() + "/auth", o);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  std::string buf(10, '\0');
  for (const Status& s : {(*src)->Stat("/").status(), (*src)->List("/small", "").status(),
                          (*src)->Read({Dataset::kLargeFile, "", 100}, 0, Bytes(buf)).status()}) {
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
    EXPECT_NE(s.message().find("401"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("127.0.0.1"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find(wrong), std::string::npos) << s.message();
  }
  // Rotated: the next request uses the new token (a different size, so the change is seen).
  { std::ofstream(token_file) << kToken << "\n"; }
  Result<ObjectInfo> info = (*src)->Stat(Dataset::kLargeFile);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  Result<ListPage> page = (*src)->List("/", "");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->entries.size(), TheWorld().dataset->Children("/").size());
  ObjectRef ref{Dataset::kLargeFile, info->version, info->size};
  EXPECT_TRUE((*src)->Read(ref, 0, Bytes(buf)).ok());
  // No token at all.
  auto anon = OpenObjectSource(w.nginx->Url() + "/auth", Options());
  EXPECT_EQ((*anon)->Stat("/").status().code(), StatusCode::kPermissionDenied);
  // A missing token file is a mount-time error.
  o.dav.bearer_token_file = w.dir.Sub("no-such-token");
  EXPECT_EQ(OpenObjectSource(w.nginx->Url() + "/auth", o).status().code(),
            StatusCode::kInvalidArgument);
}

// A server error on a directory's listing stays a server error: the one stat that tells a file
// apart (XRootD's door answers "<file>/" with a 5xx) finds none here, and the listing is retried
// as before, each attempt one PROPFIND of "<dir>/" and one of "<dir>", nothing retried inside.
TEST(DavOutageTest, ServerErrorOnAListingIsRetriedAsOne) {
  testing::ScriptedHttpServer server(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  RemoteOptions o = Options();
  o.max_attempts = 2;
  o.initial_backoff = std::chrono::milliseconds(1);
  o.down_retry = std::chrono::milliseconds(0);
  auto src = OpenObjectSource(server.Url("/data"), o);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  const Status s = (*src)->List("/dir", "").status();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("503"), std::string::npos) << s.message();
  EXPECT_EQ(server.requests(), 4);
}

// A server of its own, stopped.
TEST(DavOutageTest, StoppedServerIsUnavailableQuickly) {
  World& w = TheWorld();
  if (!testing::NginxDavServer::Installed()) GTEST_SKIP() << "nginx dav-ext not installed";
  auto own = testing::NginxDavServer::Start(w.dir.Sub("data"), kToken);  // stopped below
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  RemoteOptions o = Options();
  o.timeout = std::chrono::seconds(2);
  o.max_attempts = 2;
  o.initial_backoff = std::chrono::milliseconds(100);
  o.down_retry = std::chrono::milliseconds(0);
  auto src = OpenObjectSource((*own)->Url(), o);
  ASSERT_TRUE(src.ok());
  ASSERT_TRUE((*src)->Stat("/").ok());
  ASSERT_TRUE((*own)->Stop().ok());
  const auto start = Clock::now();
  EXPECT_EQ((*src)->Stat(Dataset::kLargeFile).status().code(), StatusCode::kUnavailable);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 3.0);
}

// ------------------------------------------------------------------------------------------------
// TLS with X.509 client certificates, and redirects: the `pki` nginx.

// The `pki` server, or a skip (nginx or openssl absent) / failure (it did not start).
#define REQUIRE_PKI_SERVER()                                                                  \
  do {                                                                                        \
    if (!testing::NginxDavServer::Installed()) GTEST_SKIP() << "nginx dav-ext not installed"; \
    if (!testing::NginxDavServer::OpensslInstalled()) {                                       \
      GTEST_SKIP() << "the openssl CLI is not installed";                                     \
    }                                                                                         \
    ASSERT_NE(TheWorld().pki, nullptr) << TheWorld().pki_error << TheWorld().error;           \
  } while (false)

// "127.0.0.1:PORT" of a URL "scheme://127.0.0.1:PORT".
std::string HostPort(const std::string& url) { return url.substr(url.find("://") + 3); }

// Reads of the large file through `src` (Stat, then kExactReadGets ranged GETs at least: 3 Reads
// and a ReadV of 40 ranges too far apart to share a GET) equal the dataset's bytes.
constexpr size_t kExactReadGets = 43;
void ExpectExactReads(ObjectSource& src) {
  const Dataset& ds = *TheWorld().dataset;
  Result<ObjectInfo> info = src.Stat(Dataset::kLargeFile);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  const ObjectRef ref{Dataset::kLargeFile, info->version, info->size};
  ASSERT_EQ(ref.size, ds.Find(Dataset::kLargeFile)->size);
  for (auto [off, len] : std::vector<std::pair<uint64_t, size_t>>{
           {0, 4096}, {123457, 1 << 20}, {ref.size - 1000, 1000}}) {
    std::string buf(len, '\0');
    Result<size_t> n = src.Read(ref, off, Bytes(buf));
    ASSERT_TRUE(n.ok()) << off << ": " << n.status().ToString();
    ASSERT_EQ(*n, len) << off;
    EXPECT_TRUE(buf == ds.Bytes(Dataset::kLargeFile, off, len)) << "bytes differ at " << off;
  }
  std::vector<std::pair<uint64_t, size_t>> spec;
  for (uint64_t i = 0; i < 40; ++i) spec.emplace_back(i * 397 * 1024 + 13, 1000 + i * 100);
  std::vector<std::string> bufs;
  bufs.reserve(spec.size());
  std::vector<ReadRange> ranges(spec.size());
  for (size_t i = 0; i < spec.size(); ++i) {
    bufs.emplace_back(spec[i].second, '\0');
    ranges[i].offset = spec[i].first;
    ranges[i].out = Bytes(bufs.back());
  }
  Status s = src.ReadV(ref, ranges);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (size_t i = 0; i < spec.size(); ++i) {
    ASSERT_TRUE(ranges[i].status.ok()) << i << ": " << ranges[i].status.ToString();
    ASSERT_EQ(ranges[i].bytes_read, spec[i].second) << i;
    EXPECT_TRUE(bufs[i] == ds.Bytes(Dataset::kLargeFile, spec[i].first, spec[i].second))
        << "ReadV range " << i;
  }
}

RemoteOptions TlsOptionsWith(bool ca, bool client_cert) {
  RemoteOptions o = Options();
  o.timeout = std::chrono::seconds(5);
  if (ca) o.tls.ca_file = TheWorld().pki->ca_file();
  if (client_cert) o.tls.client_cert_file = TheWorld().pki->client_proxy_file();
  return o;
}

// davs:// with the test CA and the client certificate (one PEM file, as an X.509 proxy): the
// root and /bigdir list as the dataset, and ranged reads and a multi-range ReadV are exact.
TEST(DavTlsTest, ClientCertificateListsAndReadsExactly) {
  REQUIRE_PKI_SERVER();
  const testing::NginxDavServer& pki = *TheWorld().pki;
  auto src = OpenObjectSource("davs://" + HostPort(pki.TlsUrl()), TlsOptionsWith(true, true));
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  for (const std::string dir : {"/", Dataset::kBigDir}) {
    Result<ListPage> page = (*src)->List(dir, "");
    ASSERT_TRUE(page.ok()) << dir << ": " << page.status().ToString();
    std::vector<std::string> actual, expected;
    for (const ObjectInfo& e : page->entries) actual.push_back(e.name);
    for (const testing::DatasetEntry* e : TheWorld().dataset->Children(dir)) {
      expected.push_back(e->path.substr(e->path.rfind('/') + 1));
    }
    std::sort(actual.begin(), actual.end());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(actual, expected) << dir;
  }
  ExpectExactReads(**src);
}

// Without a client certificate, nginx completes the handshake and answers HTTP 400 ("No
// required SSL certificate was sent"): a PermissionDenied naming the remote and the status, at
// once (not retried, no hang), with neither the token nor anything of the key in it.
TEST(DavTlsTest, NoClientCertificateIsRefusedCleanly) {
  REQUIRE_PKI_SERVER();
  const testing::NginxDavServer& pki = *TheWorld().pki;
  const std::string token_file = TheWorld().dir.Sub("tls-token");
  { std::ofstream(token_file) << kToken << "\n"; }
  RemoteOptions o = TlsOptionsWith(true, false);
  o.dav.bearer_token_file = token_file;
  auto src = OpenObjectSource("davs://" + HostPort(pki.TlsUrl()), o);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  std::string buf(100, '\0');
  const auto start = Clock::now();
  for (const Status& s : {(*src)->Stat("/").status(), (*src)->List("/small", "").status(),
                          (*src)->Read({Dataset::kLargeFile, "", 1000}, 0, Bytes(buf)).status()}) {
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
    EXPECT_NE(s.message().find(HostPort(pki.TlsUrl())), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("400"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("certificate"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find(kToken), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find("PRIVATE"), std::string::npos) << s.message();
  }
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 3.0)
      << "a refused certificate is retried or waited on";
}

// No CA that knows the server's certificate (the system's bundle only): a TLS verification
// error, PermissionDenied, naming the remote, at once.
TEST(DavTlsTest, UnknownServerCertificateIsAVerificationError) {
  REQUIRE_PKI_SERVER();
  const testing::NginxDavServer& pki = *TheWorld().pki;
  auto src = OpenObjectSource("davs://" + HostPort(pki.TlsUrl()), TlsOptionsWith(false, true));
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  const auto start = Clock::now();
  const Status s = (*src)->Stat("/").status();
  std::printf("[ tls      ] no CA: %s\n", s.ToString().c_str());
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find(HostPort(pki.TlsUrl())), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("certificate"), std::string::npos) << s.message();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 3.0);
  // The server's name must match too: the same server reached as "localhost" (not in its
  // subjectAltName) is refused even with the right CA.
  auto by_name = OpenObjectSource("davs://localhost:" + std::to_string(pki.tls_port()),
                                  TlsOptionsWith(true, true));
  ASSERT_TRUE(by_name.ok()) << by_name.status().ToString();
  const Status n = (*by_name)->Stat("/").status();
  EXPECT_EQ(n.code(), StatusCode::kPermissionDenied) << n.ToString();
}

// The lines of an nginx access log ("METHOD URI auth=yes|no status=N") that start with `prefix`.
std::vector<std::string> LogLines(const std::string& log, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  }
  return out;
}

// nginx logs a request after it has sent the response: the log (`read` returns its text) may lag
// the client by a moment. The lines starting with `prefix` once there are at least `at_least`
// (or after 3 s, whatever there is).
std::vector<std::string> LogLinesEventually(const std::function<std::string()>& read,
                                            const std::string& prefix, size_t at_least) {
  const auto deadline = Clock::now() + std::chrono::seconds(3);
  std::vector<std::string> lines = LogLines(read(), prefix);
  while (lines.size() < at_least && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    lines = LogLines(read(), prefix);
  }
  return lines;
}

// A door that answers GETs with 302 or 307 to a pool on another port: Stat and List at the
// door, reads at the pool, byte-exact; the bearer token goes to the door (which requires it)
// and not to the pool (its log shows every GET without an Authorization header).
TEST(DavRedirectTest, ReadsFollow302And307ExactlyWithoutTheTokenAtThePool) {
  REQUIRE_PKI_SERVER();
  const testing::NginxDavServer& pki = *TheWorld().pki;
  const std::string token_file = TheWorld().dir.Sub("redirect-token");
  { std::ofstream(token_file) << kToken << "\n"; }
  RemoteOptions o = Options();
  o.dav.bearer_token_file = token_file;
  for (const std::string code : {"302", "307"}) {
    SCOPED_TRACE(code);
    const size_t pool_before = LogLines(pki.PoolLog(), "GET /open/").size();
    auto src = OpenObjectSource(pki.Url() + "/to-open-" + code, o);
    ASSERT_TRUE(src.ok()) << src.status().ToString();
    Result<ListPage> page = (*src)->List("/small", "");
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    EXPECT_EQ(page->entries.size(), TheWorld().dataset->Children("/small").size());
    ExpectExactReads(**src);
    // A name that needs encoding survives the redirect.
    const ObjectRef space{Dataset::kSpaceFile, "",
                          TheWorld().dataset->Find(Dataset::kSpaceFile)->size};
    std::string buf(space.size, '\0');
    Result<size_t> n = (*src)->Read(space, 0, Bytes(buf));
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_TRUE(buf == TheWorld().dataset->Bytes(Dataset::kSpaceFile, 0, space.size));

    // Each GET: at the door (with the token, redirected), then at the pool (without it).
    const size_t gets = kExactReadGets + 1;
    const std::vector<std::string> door =
        LogLinesEventually([&] { return pki.DoorLog(); }, "GET /to-open-" + code + "/", gets);
    EXPECT_GE(door.size(), gets) << pki.DoorLog();
    for (const std::string& line : door) {
      EXPECT_NE(line.find("auth=yes status=" + code), std::string::npos) << line;
    }
    const std::vector<std::string> pool =
        LogLinesEventually([&] { return pki.PoolLog(); }, "GET /open/", pool_before + gets);
    EXPECT_GE(pool.size(), pool_before + gets) << pki.PoolLog();
    for (const std::string& line : pool) {
      EXPECT_NE(line.find("auth=no status=206"), std::string::npos)
          << "the token went to the pool, or not a ranged answer: " << line;
    }
  }
}

// A pool that requires the token too: by default it is not sent there (401 from the pool:
// PermissionDenied naming the pool, without the token); with token_to_other_hosts it is, and the
// reads are exact.
TEST(DavRedirectTest, TokenGoesToAnotherHostOnlyWhenAllowed) {
  REQUIRE_PKI_SERVER();
  const testing::NginxDavServer& pki = *TheWorld().pki;
  const std::string token_file = TheWorld().dir.Sub("redirect-token-2");
  { std::ofstream(token_file) << kToken << "\n"; }
  RemoteOptions o = Options();
  o.dav.bearer_token_file = token_file;
  o.down_retry = std::chrono::milliseconds(0);
  {
    auto src = OpenObjectSource(pki.Url() + "/to-auth-302", o);
    ASSERT_TRUE(src.ok()) << src.status().ToString();
    Result<ObjectInfo> info = (*src)->Stat(Dataset::kLargeFile);  // PROPFIND: at the door
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    std::string buf(1000, '\0');
    const Status s =
        (*src)->Read({Dataset::kLargeFile, info->version, info->size}, 0, Bytes(buf)).status();
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
    EXPECT_NE(s.message().find("401"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(HostPort(pki.PoolUrl())), std::string::npos)
        << "the message does not name the host that refused: " << s.message();
    EXPECT_EQ(s.message().find(kToken), std::string::npos) << s.message();
    std::printf("[ redirect ] token kept from the pool: %s\n", s.ToString().c_str());
    const std::vector<std::string> pool =
        LogLinesEventually([&] { return pki.PoolLog(); }, "GET /auth/", 1);
    ASSERT_FALSE(pool.empty()) << pki.PoolLog();
    EXPECT_NE(pool.back().find("auth=no status=401"), std::string::npos) << pool.back();
  }
  o.dav.token_to_other_hosts = true;
  const size_t before = LogLines(pki.PoolLog(), "GET /auth/").size();
  auto src = OpenObjectSource(pki.Url() + "/to-auth-302", o);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  ExpectExactReads(**src);
  const std::vector<std::string> pool =
      LogLinesEventually([&] { return pki.PoolLog(); }, "GET /auth/", before + kExactReadGets);
  ASSERT_GE(pool.size(), before + kExactReadGets) << pki.PoolLog();
  for (size_t i = before; i < pool.size(); ++i) {
    EXPECT_NE(pool[i].find("auth=yes status=206"), std::string::npos) << pool[i];
  }
}

// A door that redirects every request, PROPFIND included, to another path on the pool (an
// XRootD redirector does so): listings are read against the pool's path (its hrefs) and equal
// the dataset's; Stat and reads work.
TEST(DavRedirectTest, RedirectedPropfindListsUnderThePoolsPath) {
  REQUIRE_PKI_SERVER();
  const testing::NginxDavServer& pki = *TheWorld().pki;
  const std::string token_file = TheWorld().dir.Sub("redirect-token-3");
  { std::ofstream(token_file) << kToken << "\n"; }
  RemoteOptions o = Options();
  o.dav.bearer_token_file = token_file;
  auto src = OpenObjectSource(pki.Url() + "/to-dav-307", o);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  for (const std::string dir : {"/", "/small", Dataset::kBigDir}) {
    Result<ListPage> page = (*src)->List(dir, "");
    ASSERT_TRUE(page.ok()) << dir << ": " << page.status().ToString();
    std::vector<std::string> actual, expected;
    for (const ObjectInfo& e : page->entries) actual.push_back(e.name);
    for (const testing::DatasetEntry* e : TheWorld().dataset->Children(dir)) {
      expected.push_back(e->path.substr(e->path.rfind('/') + 1));
    }
    std::sort(actual.begin(), actual.end());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(actual, expected) << dir;
  }
  Result<ObjectInfo> dir = (*src)->Stat("/small");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(dir->type, ObjectType::kDirectory);
  EXPECT_EQ((*src)->Stat("/nope").status().code(), StatusCode::kNotFound);
  ExpectExactReads(**src);
  const std::vector<std::string> pool =
      LogLinesEventually([&] { return pki.PoolLog(); }, "PROPFIND /dav/small/ ", 1);
  ASSERT_FALSE(pool.empty()) << pki.PoolLog();
  EXPECT_NE(pool.back().find("auth=no status=207"), std::string::npos) << pool.back();
}

}  // namespace
}  // namespace hoardfs
