# Warnings are errors for our own code; third-party headers are included as SYSTEM.
function(hoardfs_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Werror -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Wunused -Woverloaded-virtual -Wimplicit-fallthrough
    -Wno-missing-field-initializers)
  # GCC 12 at -O3 (CMAKE_BUILD_TYPE=Release) warns -Wrestrict inside libstdc++'s std::string
  # inlines, a false positive (GCC bug 105329); it would fail Release builds.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
endfunction()
