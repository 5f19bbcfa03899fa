#include "remote/http/http_client.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

#include "common/log.h"
#include "remote/url.h"

namespace hoardfs::http {
namespace {

constexpr size_t kErrorBodyMax = 16 << 10;
constexpr long kBufferSize = 256 << 10;  // larger reads per write callback: fewer sink calls

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

std::once_flag g_curl_init;
CURLcode g_curl_init_result = CURLE_OK;

// The state of one request while curl runs it.
struct Exchange {
  const HttpRequest* request = nullptr;
  const BodySink* sink = nullptr;
  std::string what;  // DescribeRequest()
  HttpResponse response;
  bool success_status = false;  // the current response is 2xx: its body goes to the sink
  Status sink_status;
  curl_slist* headers = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};
  // Stall detection (OnProgress): when a byte last moved either way.
  std::chrono::milliseconds stall_timeout{0};
  std::chrono::steady_clock::time_point last_progress = std::chrono::steady_clock::now();
  curl_off_t last_down = 0;
  curl_off_t last_up = 0;
  bool stalled = false;

  ~Exchange() { curl_slist_free_all(headers); }
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t n = size * count;
  const std::string_view line(data, n);
  if (line.size() >= 5 && line.substr(0, 5) == "HTTP/") {
    // A new response (after a redirect or a 1xx): forget the previous one's headers.
    x->response = HttpResponse{};
    const size_t sp = line.find(' ');
    long status = 0;
    if (sp != std::string_view::npos) {
      const std::string_view code = line.substr(sp + 1, 3);
      std::from_chars(code.data(), code.data() + code.size(), status);
    }
    x->response.status = status;
    x->success_status = status >= 200 && status < 300;
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  const std::string_view name = Trim(line.substr(0, colon));
  const std::string_view value = Trim(line.substr(colon + 1));
  HttpResponse& r = x->response;
  if (EqualsNoCase(name, "etag")) {
    r.etag = value;
  } else if (EqualsNoCase(name, "last-modified")) {
    r.last_modified = value;
  } else if (EqualsNoCase(name, "content-type")) {
    r.content_type = value;
  } else if (EqualsNoCase(name, "content-range")) {
    r.content_range = value;
  } else if (EqualsNoCase(name, "location")) {
    r.location = value;
  } else if (EqualsNoCase(name, "content-length")) {
    uint64_t v = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec == std::errc() && end == value.data() + value.size()) r.content_length = v;
  }
  return n;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t n = size * count;
  if (!x->success_status) {
    const size_t keep =
        std::min(n, kErrorBodyMax - std::min(kErrorBodyMax, x->response.error_body.size()));
    x->response.error_body.append(data, keep);
    return n;
  }
  if (*x->sink) {
    Status s = (*x->sink)(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), n));
    if (!s.ok()) {
      x->sink_status = std::move(s);
      return 0;  // aborts the transfer: CURLE_WRITE_ERROR
    }
  }
  x->response.body_bytes += n;
  return n;
}

// The stall timeout. Not curl's low-speed limit: that compares a 5-second moving average of the
// bytes moved *both ways* with the limit, so a request body (a PROPFIND's few hundred bytes) keeps
// a silent server "fast" for about 5 s more than asked (seen: 8 s for a 2 s limit against a
// SIGSTOPped nginx). curl calls this at least once a second while a transfer is in progress.
int OnProgress(void* user, curl_off_t down_total, curl_off_t down_now, curl_off_t up_total,
               curl_off_t up_now) {
  (void)down_total;
  (void)up_total;
  auto* x = static_cast<Exchange*>(user);
  const auto now = std::chrono::steady_clock::now();
  if (down_now != x->last_down || up_now != x->last_up) {
    x->last_down = down_now;
    x->last_up = up_now;
    x->last_progress = now;
    return 0;
  }
  if (now - x->last_progress >= x->stall_timeout) {
    x->stalled = true;
    return 1;  // aborts the transfer: CURLE_ABORTED_BY_CALLBACK
  }
  return 0;
}

Status StatusFromCurl(CURLcode rc, const Exchange& x) {
  std::string msg = x.what + ": " + curl_easy_strerror(rc);
  if (x.errbuf[0] != '\0') msg += " (" + RedactCredentials(x.errbuf) + ")";
  switch (rc) {
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_RANGE_ERROR:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_UNSUPPORTED_PROTOCOL:  // the reply was not HTTP ("Received HTTP/0.9"), or a
                                      // redirect to another protocol: URLs we build are http(s)
      return Status::Corruption(std::move(msg));
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_LOGIN_DENIED:
      return Status::PermissionDenied(std::move(msg));
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CIPHER:
    case CURLE_URL_MALFORMAT:
    case CURLE_SSL_ENGINE_NOTFOUND:
      return Status::InvalidArgument(std::move(msg));
    case CURLE_OUT_OF_MEMORY:
      return Status::ResourceExhausted(std::move(msg));
    default:
      // Resolve/connect failures, timeouts, resets, TLS handshakes, HTTP/2 stream errors, a
      // server that closed without a reply: the moment, not the request.
      return Status::Unavailable(std::move(msg));
  }
}

std::string RangeHeader(const std::vector<ByteRange>& ranges) {
  std::string h = "Range: bytes=";
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (i > 0) h += ',';
    h += std::to_string(ranges[i].offset) + "-" +
         std::to_string(ranges[i].offset + ranges[i].length - 1);
  }
  return h;
}

}  // namespace

// The pool of easy handles and the share handle. Lock order: pool_mu, then a share lock (never
// both held: the share locks are taken by curl inside transfers only).
struct HttpClient::Shared {
  CURLSH* share = nullptr;
  std::mutex share_locks[CURL_LOCK_DATA_LAST];
  std::mutex pool_mu;
  std::vector<CURL*> idle;  // GUARDED_BY(pool_mu)
  unsigned max_idle = 0;

  ~Shared() {
    for (CURL* h : idle) curl_easy_cleanup(h);
    if (share != nullptr) curl_share_cleanup(share);
  }

  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Shared*>(user)->share_locks[data].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<Shared*>(user)->share_locks[data].unlock();
  }

  CURL* Acquire() {
    {
      std::lock_guard<std::mutex> lock(pool_mu);
      if (!idle.empty()) {
        CURL* h = idle.back();
        idle.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }

  void Release(CURL* h) {
    curl_easy_reset(h);  // keeps live connections and caches, drops the options
    std::lock_guard<std::mutex> lock(pool_mu);
    if (idle.size() < max_idle) {
      idle.push_back(h);
      return;
    }
    curl_easy_cleanup(h);
  }
};

HttpClientOptions HttpClientOptions::From(const RemoteOptions& options) {
  HttpClientOptions out;
  out.connect_timeout = options.timeout;
  out.stall_timeout = options.timeout;
  out.tls = options.tls;
  return out;
}

std::string DescribeRequest(std::string_view method, std::string_view url) {
  std::string_view u = url.substr(0, url.find_first_of("?#"));
  std::string out(method);
  out += ' ';
  const size_t scheme_end = u.find("://");
  if (scheme_end != std::string_view::npos) {
    const size_t auth = scheme_end + 3;
    const size_t slash = u.find('/', auth);
    const size_t at = u.substr(0, slash).rfind('@');
    if (at != std::string_view::npos && at >= auth) {
      out += u.substr(0, auth);
      out += u.substr(at + 1);
      return out;
    }
  }
  out += u;
  return out;
}

Result<std::unique_ptr<HttpClient>> HttpClient::Open(const HttpClientOptions& options) {
  std::call_once(g_curl_init, [] { g_curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (g_curl_init_result != CURLE_OK) {
    return Status::Internal(std::string("curl_global_init: ") +
                            curl_easy_strerror(g_curl_init_result));
  }
  for (const std::string* f : {&options.tls.ca_file, &options.tls.client_cert_file}) {
    if (!f->empty() && ::access(f->c_str(), R_OK) != 0) {
      return Status::InvalidArgument("TLS file " + *f + " is not readable");
    }
  }
  auto shared = std::make_unique<Shared>();
  shared->max_idle = options.max_idle_handles;
  shared->share = curl_share_init();
  if (shared->share == nullptr) return Status::ResourceExhausted("curl_share_init failed");
  curl_share_setopt(shared->share, CURLSHOPT_LOCKFUNC, &Shared::Lock);
  curl_share_setopt(shared->share, CURLSHOPT_UNLOCKFUNC, &Shared::Unlock);
  curl_share_setopt(shared->share, CURLSHOPT_USERDATA, shared.get());
  curl_share_setopt(shared->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(shared->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  return std::unique_ptr<HttpClient>(new HttpClient(options, std::move(shared)));
}

HttpClient::HttpClient(HttpClientOptions options, std::unique_ptr<Shared> shared)
    : options_(std::move(options)), shared_(std::move(shared)) {}

HttpClient::~HttpClient() = default;

namespace {

// Sets every option of one request on a freshly reset handle. Returns false if a header list
// could not be allocated.
bool Setup(CURL* h, CURLSH* share, const HttpClientOptions& o, Exchange& x) {
  const HttpRequest& r = *x.request;
  curl_easy_setopt(h, CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(h, CURLOPT_SHARE, share);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x.errbuf);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
  // The stall clock starts with the request (as curl's low-speed clock did).
  x.stall_timeout = std::max(o.stall_timeout, std::chrono::milliseconds(1));
  x.last_progress = std::chrono::steady_clock::now();
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
  if (o.total_timeout.count() > 0) {
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(o.total_timeout.count()));
  }
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, r.follow_redirects ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, static_cast<long>(o.max_redirects));
  curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);  // keys are sent as encoded, never normalised
  curl_easy_setopt(h, CURLOPT_USERAGENT, o.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_BUFFERSIZE, kBufferSize);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!o.tls.ca_path.empty()) curl_easy_setopt(h, CURLOPT_CAPATH, o.tls.ca_path.c_str());
  if (!o.tls.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, o.tls.ca_file.c_str());
  if (!o.tls.client_cert_file.empty()) {
    // An X.509 proxy holds the certificate, its key and the chain in one PEM file.
    curl_easy_setopt(h, CURLOPT_SSLCERT, o.tls.client_cert_file.c_str());
    curl_easy_setopt(h, CURLOPT_SSLKEY, o.tls.client_cert_file.c_str());
  }
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, o.tls.verify_peer ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, o.tls.verify_peer ? 2L : 0L);

  if (r.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (r.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
  auto add = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(x.headers, line.c_str());
    if (next == nullptr) return false;
    x.headers = next;
    return true;
  };
  if (!r.body.empty() || (r.method != "GET" && r.method != "HEAD")) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, r.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    // No "Expect: 100-continue" round trip and no form content type for raw bodies.
    if (!add("Expect:") || !add("Content-Type:")) return false;
  }
  for (const auto& [name, value] : r.headers) {
    // "Name;" is curl's spelling of a header with an empty value ("Name:" would remove it).
    if (!add(value.empty() ? name + ";" : name + ": " + value)) return false;
  }
  if (!r.ranges.empty() && !add(RangeHeader(r.ranges))) return false;
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, x.headers);
  return true;
}

Result<HttpResponse> Finish(CURLcode rc, Exchange& x) {
  if (rc == CURLE_OK) return std::move(x.response);
  if (rc == CURLE_WRITE_ERROR && !x.sink_status.ok()) return x.sink_status;
  if (rc == CURLE_ABORTED_BY_CALLBACK && x.stalled) {
    return Status::Unavailable(x.what + ": timed out: no byte moved for " +
                               std::to_string(x.stall_timeout.count()) + " ms");
  }
  return StatusFromCurl(rc, x);
}

}  // namespace

Result<HttpResponse> HttpClient::Perform(const HttpRequest& request, const BodySink& sink) {
  Exchange x;
  x.request = &request;
  x.sink = &sink;
  x.what = DescribeRequest(request.method, request.url);
  CURL* h = shared_->Acquire();
  if (h == nullptr) return Status::ResourceExhausted(x.what + ": curl_easy_init failed");
  Result<HttpResponse> result = Status::ResourceExhausted(x.what + ": out of memory for headers");
  if (Setup(h, shared_->share, options_, x)) result = Finish(curl_easy_perform(h), x);
  shared_->Release(h);
  if (result.ok()) {
    Logger("remote")->trace("{}: HTTP {}, {} body bytes", x.what, result->status,
                            result->body_bytes);
  } else {
    Logger("remote")->debug("{}", result.status().ToString());
  }
  return result;
}

Result<HttpResponse> HttpClient::PerformInto(const HttpRequest& request, std::span<std::byte> out) {
  size_t filled = 0;
  const std::string what = DescribeRequest(request.method, request.url);
  BodySink sink = [&](std::span<const std::byte> chunk) -> Status {
    if (chunk.size() > out.size() - filled) {
      return Status::Corruption(what + ": the server sent more than the " +
                                std::to_string(out.size()) + " bytes asked for");
    }
    std::memcpy(out.data() + filled, chunk.data(), chunk.size());
    filled += chunk.size();
    return Status::Ok();
  };
  return Perform(request, sink);
}

Result<HttpResponse> HttpClient::PerformToString(const HttpRequest& request, std::string* out,
                                                 size_t max_bytes) {
  const std::string what = DescribeRequest(request.method, request.url);
  const size_t start = out->size();
  BodySink sink = [&](std::span<const std::byte> chunk) -> Status {
    if (out->size() - start + chunk.size() > max_bytes) {
      return Status::Corruption(what + ": response body larger than " + std::to_string(max_bytes) +
                                " bytes");
    }
    out->append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
    return Status::Ok();
  };
  return Perform(request, sink);
}

void HttpClient::PerformAll(std::span<Transfer> transfers) {
  // Worker threads over pooled easy handles rather than one curl multi handle: handles added to
  // a multi handle use (and on cleanup close) the multi's own connection cache, so every call
  // would open fresh connections. The caller's thread is one of the workers.
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < transfers.size(); i = next++) {
      transfers[i].result = Perform(transfers[i].request, transfers[i].sink);
    }
  };
  const size_t workers = std::min<size_t>(std::max(1u, options_.max_parallel), transfers.size());
  std::vector<std::thread> threads;
  for (size_t i = 1; i < workers; ++i) {
    try {
      threads.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // fewer threads: the remaining ones take the work
    }
  }
  work();
  for (std::thread& t : threads) t.join();
}

}  // namespace hoardfs::http
