# The library boundary, checked on the sources (cmake -P, run by ctest as
# library_boundary.public_includes): every C/C++ file of examples/ and every public header of
# include/peerrtc/ may include only <peerrtc/...> of this project. An #include that names a
# header of src/ (e.g. "server/app.hpp", "common/log.hpp") fails the test with its file and line.
#   cmake -DROOT=<source dir> [-DFILES=a.cpp;b.hpp] -P tests/boundary/public_includes.cmake
if(NOT ROOT)
  message(FATAL_ERROR "pass -DROOT=<source dir>")
endif()
if(NOT FILES)
  file(GLOB_RECURSE FILES ${ROOT}/examples/*.cpp ${ROOT}/examples/*.hpp ${ROOT}/examples/*.h
       ${ROOT}/include/peerrtc/*.hpp)
endif()
set(bad "")
set(checked 0)
foreach(f ${FILES})
  math(EXPR checked "${checked} + 1")
  file(STRINGS ${f} lines)
  set(n 0)
  foreach(line IN LISTS lines)
    math(EXPR n "${n} + 1")
    if(line MATCHES "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"]")
      set(inc ${CMAKE_MATCH_1})
      if(NOT inc MATCHES "^peerrtc/" AND EXISTS ${ROOT}/src/${inc})
        string(APPEND bad "  ${f}:${n}: #include ${inc} (a private header of src/)\n")
      endif()
    endif()
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "public code includes private headers; use <peerrtc/...> only:\n${bad}")
endif()
message(STATUS "library boundary: ${checked} files include only <peerrtc/...> of this project")
