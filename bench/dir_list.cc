// dir_list: the cold listing limits of the mount benchmark (bench/run_mount_bench.sh): one
// directory listed by a direct root:// client (XrdCl::FileSystem::DirList, in-process, so that no
// process start is timed), either names only (what xrootdfs asks for) or with every entry's
// attributes in the same answer (kXR_dstat: what hoardfs asks for, so that stat and readdirplus
// need no request per file).
//
//   dir_list URL [--stat]     URL = root://host:port//dir
//
// Prints one line: "entries=N seconds=S" (S = wall time of the DirList call alone; the connection
// is made before, by a stat of the directory). Exit status 1 on any error.
#include <XrdCl/XrdClFileSystem.hh>
#include <XrdCl/XrdClURL.hh>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3 || (argc == 3 && std::strcmp(argv[2], "--stat") != 0)) {
    std::fprintf(stderr, "usage: dir_list root://host:port//dir [--stat]\n");
    return 2;
  }
  const XrdCl::URL url(argv[1]);
  if (!url.IsValid()) {
    std::fprintf(stderr, "dir_list: not a valid URL: %s\n", argv[1]);
    return 2;
  }
  const bool with_stat = argc == 3;
  XrdCl::FileSystem fs(url);
  XrdCl::StatInfo* stat_raw = nullptr;
  XrdCl::XRootDStatus st = fs.Stat(url.GetPath(), stat_raw);
  std::unique_ptr<XrdCl::StatInfo> stat(stat_raw);
  if (!st.IsOK()) {
    std::fprintf(stderr, "dir_list: stat %s: %s\n", argv[1], st.ToString().c_str());
    return 1;
  }
  XrdCl::DirectoryList* list_raw = nullptr;
  const auto t0 = std::chrono::steady_clock::now();
  st = fs.DirList(url.GetPath(), with_stat ? XrdCl::DirListFlags::Stat : XrdCl::DirListFlags::None,
                  list_raw);
  const auto t1 = std::chrono::steady_clock::now();
  std::unique_ptr<XrdCl::DirectoryList> list(list_raw);
  if (!st.IsOK() || !list) {
    std::fprintf(stderr, "dir_list: list %s: %s\n", argv[1], st.ToString().c_str());
    return 1;
  }
  std::printf("entries=%u seconds=%.6f\n", list->GetSize(),
              std::chrono::duration<double>(t1 - t0).count());
  return 0;
}
