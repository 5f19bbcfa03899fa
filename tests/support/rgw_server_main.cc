// hoardfs_rgw_server: a throwaway Ceph RGW (tests/support/rgw_server.h) as a process, for the
// mount benchmark (bench/run_mount_bench.sh) and for trying things by hand.
//
//   hoardfs_rgw_server [--bucket NAME] [--memstore-mib N] [--upload DIR] [--prefix P]
//                      [--threads N]
//
// Starts the cluster (its work directory under $TMPDIR), creates the bucket, uploads every file
// under DIR (recursively; key = P + path relative to DIR; empty directories are not uploaded),
// then prints on stdout, one `key=value` per line:
//   endpoint=http://127.0.0.1:PORT   bucket=NAME   access_key=...   secret_key=...
//   work_dir=...   (the daemons' pid files are in work_dir/run)
//   uploaded_objects=N   uploaded_bytes=B   upload_seconds=S   ready=1
// and runs until SIGTERM or SIGINT, then stops radosgw, the OSD and the monitor (in that order,
// ~6 s) and removes the work directory. Exit status 0 after a clean stop, 1 if start-up or the
// upload failed (the message is on stderr; the cluster is stopped first).
#include <signal.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/rgw_server.h"
#include "tests/support/s3_test_client.h"

namespace {

using hoardfs::Status;
using hoardfs::testing::RgwServer;
using hoardfs::testing::RgwServerOptions;
using hoardfs::testing::S3TestClient;

struct Args {
  std::string bucket = "bench";
  uint64_t memstore_mib = 3072;
  std::string upload_dir;
  std::string prefix;
  unsigned threads = 8;
};

int Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--bucket NAME] [--memstore-mib N] [--upload DIR] [--prefix P] "
               "[--threads N]\n",
               argv0);
  return 2;
}

struct UploadResult {
  Status status;
  uint64_t objects = 0;
  uint64_t bytes = 0;
};

// Every regular file under `dir`, `threads` PUTs in flight. Stops early once `stop` is set.
UploadResult Upload(S3TestClient& client, const Args& a, const std::atomic<bool>& stop) {
  namespace fs = std::filesystem;
  UploadResult out;
  std::vector<std::pair<std::string, std::string>> jobs;  // key, local path
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(a.upload_dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) {
      jobs.emplace_back(a.prefix + fs::relative(it->path(), a.upload_dir).generic_string(),
                        it->path().string());
    }
  }
  if (ec) {
    out.status = Status::IOError("walk " + a.upload_dir + ": " + ec.message());
    return out;
  }
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> bytes{0};
  std::mutex mu;
  auto work = [&] {
    for (size_t i = next++; i < jobs.size() && !stop; i = next++) {
      std::ifstream in(jobs[i].second, std::ios::binary);
      std::string body(std::istreambuf_iterator<char>(in), {});
      const uint64_t n = body.size();
      Status s = client.Put(jobs[i].first, std::move(body));
      std::lock_guard<std::mutex> lock(mu);
      if (!s.ok()) {
        if (out.status.ok()) out.status = s;
        next = jobs.size();
      } else {
        ++out.objects;
        bytes += n;
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < std::max(1u, a.threads); ++t) pool.emplace_back(work);
  for (std::thread& t : pool) t.join();
  out.bytes = bytes;
  if (out.status.ok() && stop) out.status = Status::Unavailable("interrupted");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) return Usage(argv[0]);
    const std::string v = argv[++i];
    if (k == "--bucket") {
      a.bucket = v;
    } else if (k == "--memstore-mib") {
      a.memstore_mib = std::strtoull(v.c_str(), nullptr, 10);
    } else if (k == "--upload") {
      a.upload_dir = v;
    } else if (k == "--prefix") {
      a.prefix = v;
    } else if (k == "--threads") {
      a.threads = static_cast<unsigned>(std::strtoul(v.c_str(), nullptr, 10));
    } else {
      return Usage(argv[0]);
    }
  }
  // SIGTERM/SIGINT are taken with sigtimedwait (blocked here, so in every thread; the Ceph
  // daemons are spawned with an empty mask and default dispositions).
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  RgwServerOptions o;
  o.memstore_bytes = a.memstore_mib << 20;
  auto started = RgwServer::Start(o);
  if (!started.ok()) {
    std::cerr << "hoardfs_rgw_server: start failed: " << started.status().ToString() << "\n";
    return 1;
  }
  std::unique_ptr<RgwServer> server = std::move(*started);
  auto fail = [&](const std::string& what) {
    std::cerr << "hoardfs_rgw_server: " << what << "\n";
    (void)server->Stop();
    return 1;
  };
  auto client = S3TestClient::Open(server->Endpoint(), a.bucket, server->access_key(),
                                   server->secret_key());
  if (!client.ok()) return fail("client: " + client.status().ToString());
  if (Status s = (*client)->CreateBucket(); !s.ok()) {
    return fail("create bucket " + a.bucket + ": " + s.ToString());
  }

  std::atomic<bool> stop{false};
  int got_signal = 0;
  UploadResult up;
  double up_secs = 0;
  if (!a.upload_dir.empty()) {
    std::atomic<bool> done{false};
    const auto t0 = std::chrono::steady_clock::now();
    std::thread uploader([&] {
      up = Upload(**client, a, stop);
      done = true;
    });
    const timespec tick{0, 100'000'000};
    while (!done) {
      const int sig = sigtimedwait(&sigs, nullptr, &tick);
      if (sig > 0) {
        got_signal = sig;
        stop = true;
      }
    }
    uploader.join();
    up_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!up.status.ok()) return fail("upload: " + up.status.ToString());
  }
  std::cout << "endpoint=" << server->Endpoint() << "\n"
            << "bucket=" << a.bucket << "\n"
            << "access_key=" << server->access_key() << "\n"
            << "secret_key=" << server->secret_key() << "\n"
            << "work_dir=" << server->work_dir() << "\n"
            << "uploaded_objects=" << up.objects << "\n"
            << "uploaded_bytes=" << up.bytes << "\n"
            << "upload_seconds=" << up_secs << "\n"
            << "ready=1" << std::endl;
  while (got_signal == 0) {
    const int sig = sigwaitinfo(&sigs, nullptr);
    if (sig > 0) got_signal = sig;
  }
  client->reset();
  Status s = server->Stop();
  if (!s.ok()) {
    std::cerr << "hoardfs_rgw_server: stop: " << s.ToString() << "\n";
    return 1;
  }
  return 0;
}
