# Debian packages, made by `cpack -G DEB` (or `cpack`) in the build directory, one per install
# component (tests/package/run.sh builds and checks them):
#   peerrtc-server     (server)  /usr/bin/peerrtc-server; the web assets (JS client, dashboard,
#                                examples) under /usr/share/peerrtc, where the binary finds them
#                                (apps/config_file.hpp); /etc/peerrtc/peerrtc.conf (every flag,
#                                commented: peerrtc-server --print-config); the hardened systemd
#                                unit peerrtc-server.service (packaging/, docs/deploy.md)
#   libpeerrtc-dev     (dev)     headers, libpeerrtc.a, the CMake package, peerrtc.pc
#   python3-peerpyrtc  (python)  the module peerpyrtc for Debian's python3 (when built)
# Version: VERSION (CMakeLists.txt). Run-time dependencies: dpkg-shlibdeps.
install(TARGETS peerrtc-server RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT server)
install(FILES clients/js/peerrtc-client.js clients/js/peerrtc-client.d.ts
        DESTINATION ${CMAKE_INSTALL_DATADIR}/peerrtc/clients/js COMPONENT server)
install(DIRECTORY clients/dashboard DESTINATION ${CMAKE_INSTALL_DATADIR}/peerrtc/clients COMPONENT server)
install(DIRECTORY examples/web DESTINATION ${CMAKE_INSTALL_DATADIR}/peerrtc/examples COMPONENT server)
# Absolute: /etc, whatever the prefix (a .deb's prefix is /usr).
install(FILES ${CMAKE_BINARY_DIR}/peerrtc.conf DESTINATION /etc/peerrtc COMPONENT server)
install(FILES packaging/peerrtc-server.service DESTINATION lib/systemd/system COMPONENT server)
install(FILES docs/deploy.md DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/peerrtc-server COMPONENT server)

set(CPACK_PACKAGE_NAME peerrtc)
set(CPACK_PACKAGE_VENDOR "PeerRTC")
set(CPACK_PACKAGE_CONTACT "PeerRTC maintainers <peerrtc@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "WebRTC DataChannel server: rooms relayed over one UDP port")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL server dev)
if(TARGET _peerpyrtc)
  list(APPEND CPACK_COMPONENTS_ALL python)
endif()
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)  # no debug info in the packages (the build keeps it)
set(CPACK_DEBIAN_COMPRESSION_TYPE gzip)
# cpack (and `make install`) do not build every target first: tests/package/run.sh builds the
# packaged ones; the test command has built everything anyway.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

set(CPACK_DEBIAN_SERVER_PACKAGE_NAME peerrtc-server)
set(CPACK_COMPONENT_SERVER_DESCRIPTION "PeerRTC server: WebRTC DataChannel rooms over HTTP signaling
 peerrtc-server answers browsers' SDP offers over HTTP as a WebRTC peer (ICE-lite, DTLS, SCTP) and
 relays every data channel message to the other peers of its room. With the JS client, the web
 examples, the dashboard, /etc/peerrtc/peerrtc.conf and a hardened systemd unit.")
# /etc/peerrtc/peerrtc.conf is a conffile: an operator's edits survive upgrades.
file(WRITE ${CMAKE_BINARY_DIR}/packaging/server/conffiles "/etc/peerrtc/peerrtc.conf\n")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/packaging/server/conffiles)

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libpeerrtc-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DESCRIPTION "PeerRTC: C++20 WebRTC DataChannel server library (development files)
 Headers <peerrtc/...>, the static library libpeerrtc.a (with its own optimised usrsctp), the CMake
 package (find_package(peerrtc CONFIG) -> peerrtc::peerrtc) and peerrtc.pc.")
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libssl-dev (>= 3), nlohmann-json3-dev, libspdlog-dev")
if(PEERRTC_USRSCTP STREQUAL "system")
  string(APPEND CPACK_DEBIAN_DEV_PACKAGE_DEPENDS ", libusrsctp-dev")
endif()

set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-peerpyrtc)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
set(CPACK_COMPONENT_PYTHON_DESCRIPTION "PeerPyRTC's API on the PeerRTC engine (Python 3 module peerpyrtc)
 SignalingManager, Broadcaster, participants and hooks for Flask or any Python web framework.")
if(Python3_FOUND)
  math(EXPR _peerrtc_py_next "${Python3_VERSION_MINOR} + 1")
  set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS
      "python3 (>= ${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR}), python3 (<< ${Python3_VERSION_MAJOR}.${_peerrtc_py_next})")
endif()
include(CPack)
