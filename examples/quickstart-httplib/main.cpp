// PeerRTC quick start: the C++ twin of PeerPyRTC's Flask example, on cpp-httplib.
//   quickstart-httplib [--port N]   (default 5000; 0 = ephemeral; UDP uses the same number)
#include <httplib.h>

#include <iostream>
#include <peerrtc/peerrtc.hpp>
#include <string>

int serve(int port) {
  peerrtc::Config config;
  config.udp_port = static_cast<uint16_t>(port);  // one UDP port for every peer (0 = ephemeral)
  peerrtc::SignalingManager manager(config);
  manager.on_message([](const peerrtc::Message& m) {  // a copy of every relayed message
    std::cout << "[" << m.room << "] " << m.sender << ": " << (m.binary ? "<binary>" : m.data) << std::endl;
  });

  httplib::Server app;
  auto reply = [](httplib::Response& res, const std::pair<int, peerrtc::json>& r) {
    res.status = r.first;
    res.set_content(r.second.dump(-1, ' ', false, peerrtc::json::error_handler_t::replace), "application/json");
  };
  app.Post("/offer", [&](const httplib::Request& req, httplib::Response& res) {
    reply(res, manager.handle("offer", req.body));
  });
  app.Post("/candidate", [&](const httplib::Request& req, httplib::Response& res) {
    reply(res, manager.handle("candidate", req.body));
  });
  app.Post("/leave", [&](const httplib::Request& req, httplib::Response& res) {
    reply(res, manager.handle("leave", req.body));
  });

  if (port == 0 ? (port = app.bind_to_any_port("0.0.0.0")) < 0 : !app.bind_to_port("0.0.0.0", port))
    return std::cerr << "cannot listen on port " << port << " (in use?)\n", 1;
  std::cout << "READY {\"http\":" << port << ",\"udp\":" << manager.udp_port() << "}" << std::endl;
  app.listen_after_bind();
  return 0;
}

int main(int argc, char** argv) try {
  return serve(argc == 3 && std::string(argv[1]) == "--port" ? std::stoi(argv[2]) : 5000);
} catch (const std::exception& e) {  // e.g. the UDP port is in use: SignalingManager's constructor says so
  std::cerr << "quickstart-httplib: " << e.what() << "\n";
  return 1;
}
