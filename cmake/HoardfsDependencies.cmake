# Every dependency comes from a Debian 12 package, found through pkg-config or CMake config files.
# No vendored copies, no downloads at build time.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(URING REQUIRED IMPORTED_TARGET liburing>=2.3)
pkg_check_modules(ISAL REQUIRED IMPORTED_TARGET libisal)
pkg_check_modules(ROCKSDB REQUIRED IMPORTED_TARGET rocksdb>=7.8)
find_package(spdlog CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
if(HOARDFS_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
endif()
if(HOARDFS_BUILD_BENCH)
  find_package(benchmark CONFIG REQUIRED)
endif()
# XRootD client (remote/ only). Its CMake config file sets variables, not targets: wrap them in an
# imported target, whose include directories are then SYSTEM (XrdCl headers are not -Wshadow clean).
find_package(XRootD CONFIG REQUIRED PATHS /usr/share/xrootd/cmake)
if(NOT TARGET XRootD::XrdCl)
  set(_hoardfs_xrootd_includes "")
  foreach(dir IN LISTS XROOTD_INCLUDE_DIRS)  # it lists .../private, which Debian does not ship
    if(EXISTS "${dir}")
      list(APPEND _hoardfs_xrootd_includes "${dir}")
    endif()
  endforeach()
  add_library(XRootD::XrdCl INTERFACE IMPORTED)
  set_target_properties(XRootD::XrdCl PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_hoardfs_xrootd_includes}"
    INTERFACE_LINK_LIBRARIES "${XROOTD_CLIENT_LIBRARIES};${XROOTD_UTILS_LIBRARIES}")
endif()
# HTTP-based remotes (remote/http, remote/s3): libcurl (transfers), expat (streaming XML) and
# OpenSSL's libcrypto (SigV4's SHA-256/HMAC; also SHA-256 of the test datasets in tests/support).
find_package(CURL REQUIRED)
find_package(EXPAT REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
