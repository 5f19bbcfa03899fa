// page_fault_cost: what one first-touch page fault costs on this machine (in a VM with shadow or
// paravirtual page tables it is several times a bare-metal fault), so that a pass's minor-fault
// count (bench/sparse_ab.sh prints it) can be read as time.
//
//   page_fault_cost [PAGES]     (default 3000)
//
// Maps PAGES fresh anonymous pages and writes one byte to each (one fault per page), then
// touches them again (no faults: the baseline), five times; prints one line:
// "pages=N fault_us=F" (F = the median over the five rounds of (first - second pass) / N).
// Exit status 1 if the memory cannot be mapped.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace {

double TouchSeconds(volatile char* p, size_t pages, size_t page) {
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < pages; ++i) p[i * page] = 1;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const size_t pages = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 3000;
  if (pages == 0) {
    std::fprintf(stderr, "usage: page_fault_cost [PAGES > 0]\n");
    return 2;
  }
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::array<double, 5> per_fault{};
  for (double& r : per_fault) {
    void* m =
        ::mmap(nullptr, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
      std::perror("page_fault_cost: mmap");
      return 1;
    }
    auto* p = static_cast<volatile char*>(m);
    const double first = TouchSeconds(p, pages, page);
    const double again = TouchSeconds(p, pages, page);
    r = (first - again) / static_cast<double>(pages);
    ::munmap(m, pages * page);
  }
  std::sort(per_fault.begin(), per_fault.end());
  std::printf("pages=%zu fault_us=%.2f\n", pages, per_fault[per_fault.size() / 2] * 1e6);
  return 0;
}
