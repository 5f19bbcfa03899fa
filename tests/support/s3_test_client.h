// S3TestClient: what tests need to put data into an S3 server that the product (read-only)
// never does: create a bucket, PUT and DELETE objects, upload a whole Dataset. Requests are
// signed with the product's own SigV4 code (remote/s3) and sent with its HttpClient, so a test
// that reads back what it wrote also checks the signer against the server for PUTs.
//
// Thread-safety: thread-safe (UploadDataset uses several threads).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "tests/support/dataset.h"

namespace hoardfs::testing {

class S3TestClient {
 public:
  static Result<std::unique_ptr<S3TestClient>> Open(const std::string& endpoint,
                                                    const std::string& bucket,
                                                    const std::string& access_key,
                                                    const std::string& secret_key);
  ~S3TestClient();

  Status CreateBucket();
  Status Put(std::string_view key, std::string body);
  Status Delete(std::string_view key);
  // Every file of `ds` as "<prefix><path without '/'>", and a "dir/" marker object for every
  // empty directory, with `threads` uploads in flight.
  Status UploadDataset(const Dataset& ds, const std::string& prefix, unsigned threads);

 private:
  struct Impl;
  explicit S3TestClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hoardfs::testing
