#include "tests/support/s3_test_client.h"

#include <atomic>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>
#include <vector>

#include "remote/http/http_client.h"
#include "remote/http/http_status.h"
#include "remote/s3/s3_request.h"
#include "remote/s3/sigv4.h"

namespace hoardfs::testing {

struct S3TestClient::Impl {
  std::unique_ptr<http::HttpClient> http;
  std::unique_ptr<s3::S3Request> request;

  Status Send(std::string_view method, std::string_view key, std::string body) {
    const std::string hash = s3::Sha256Hex(body);
    http::HttpRequest req = request->Build(method, key, {}, {}, std::move(body), hash);
    Status last;
    for (int attempt = 0; attempt < 5; ++attempt) {
      Result<http::HttpResponse> r = http->Perform(req, {});
      if (r.ok()) {
        last = http::StatusFromHttp(r->status, std::string(method) + " " + request->Describe(key),
                                    r->error_body.substr(0, 200));
      } else {
        last = r.status();
      }
      if (last.code() != StatusCode::kUnavailable) return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
    }
    return last;
  }
};

S3TestClient::S3TestClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
S3TestClient::~S3TestClient() = default;

Result<std::unique_ptr<S3TestClient>> S3TestClient::Open(const std::string& endpoint,
                                                         const std::string& bucket,
                                                         const std::string& access_key,
                                                         const std::string& secret_key) {
  S3Options o;
  o.endpoint = endpoint;
  HOARDFS_ASSIGN_OR_RETURN(s3::S3Endpoint ep, s3::S3Endpoint::From(o, bucket));
  auto impl = std::make_unique<Impl>();
  http::HttpClientOptions ho;
  ho.connect_timeout = ho.stall_timeout = std::chrono::seconds(30);
  HOARDFS_ASSIGN_OR_RETURN(impl->http, http::HttpClient::Open(ho));
  impl->request = std::make_unique<s3::S3Request>(std::move(ep),
                                                  s3::SigV4Credentials{access_key, secret_key, ""});
  return std::unique_ptr<S3TestClient>(new S3TestClient(std::move(impl)));
}

Status S3TestClient::CreateBucket() { return impl_->Send("PUT", "", ""); }

Status S3TestClient::Put(std::string_view key, std::string body) {
  return impl_->Send("PUT", key, std::move(body));
}

Status S3TestClient::Delete(std::string_view key) { return impl_->Send("DELETE", key, ""); }

Status S3TestClient::UploadDataset(const Dataset& ds, const std::string& prefix, unsigned threads) {
  struct Job {
    std::string key;
    std::string local;  // "" for a directory marker
  };
  std::vector<Job> jobs;
  for (const DatasetEntry& e : ds.entries()) {
    if (e.type == ObjectType::kFile) {
      jobs.push_back({prefix + e.path.substr(1), ds.dir() + e.path});
    } else if (e.type == ObjectType::kDirectory && ds.Children(e.path).empty()) {
      jobs.push_back({prefix + e.path.substr(1) + "/", ""});
    }
  }
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status first;
  auto work = [&] {
    for (size_t i = next++; i < jobs.size(); i = next++) {
      std::string body;
      if (!jobs[i].local.empty()) {
        std::ifstream in(jobs[i].local, std::ios::binary);
        body.assign(std::istreambuf_iterator<char>(in), {});
      }
      Status s = Put(jobs[i].key, std::move(body));
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first.ok()) first = s;
        next = jobs.size();
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < std::max(1u, threads); ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  return first;
}

}  // namespace hoardfs::testing
