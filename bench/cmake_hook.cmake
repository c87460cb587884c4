# Used by bench/run.sh as CMAKE_PROJECT_INCLUDE: adds bench/ (peerrtc-loadgen) to the main project
# when the top-level CMakeLists.txt does not have add_subdirectory(bench) yet.
if(CMAKE_PROJECT_NAME STREQUAL "peerrtc")
  function(_peerrtc_bench_add)
    if(NOT TARGET peerrtc-loadgen)
      include(${CMAKE_SOURCE_DIR}/bench/CMakeLists.txt)
    endif()
  endfunction()
  cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL _peerrtc_bench_add)
endif()
