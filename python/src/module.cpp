// _peerpyrtc: the pybind11 binding of peerrtc::SignalingManager for the peerpyrtc package.
//
// The Python-facing API (keyword arguments, decorators, the asyncio loop) lives in
// peerpyrtc/__init__.py; this file only crosses the language boundary, with two rules:
//  * every call that waits for the network thread releases the GIL (call_guard), so a hook or
//    the filter that needs the GIL can always get it;
//  * C++ threads (hook threads, the network thread for the filter) take the GIL only for the
//    time of one Python call, and never once the interpreter is finalizing. Python objects held
//    by C++ callbacks are released under the GIL, or leaked when the interpreter is gone.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <memory>
#include <peerrtc/peerrtc.hpp>
#include <thread>

namespace py = pybind11;
using peerrtc::json;

namespace {

bool python_alive() { return Py_IsInitialized() && !_Py_IsFinalizing(); }

// A Python object owned by C++ callbacks that may be destroyed on any thread.
struct PyRef {
  py::object obj;
  explicit PyRef(py::object o) : obj(std::move(o)) {}
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  ~PyRef() {
    if (!obj) return;
    if (python_alive()) {
      py::gil_scoped_acquire gil;
      obj = py::object();
    } else {
      obj.release();  // the interpreter is gone: leak rather than touch it
    }
  }
};

py::object message_data(const std::string& data, bool binary) {
  if (binary) return py::bytes(data);
  PyObject* s = PyUnicode_DecodeUTF8(data.data(), static_cast<Py_ssize_t>(data.size()), "replace");
  if (!s) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(s);
}

// Calls fn(args...) with the GIL, from a C++ thread; a Python exception is reported as
// unraisable (printed to stderr) and never crosses into C++.
template <typename... Args>
void call_python(const std::shared_ptr<PyRef>& fn, Args&&... args) {
  if (!python_alive()) return;
  py::gil_scoped_acquire gil;
  try {
    fn->obj(std::forward<Args>(args)...);
  } catch (py::error_already_set& e) {
    e.discard_as_unraisable("peerpyrtc callback");
  }
}

py::object g_error_type;  // peerpyrtc._errors.PeerRTCError

// Test hooks (tests/python/test_close_race.py): every call that uses the manager pauses this
// long after taking it, so a close() on another thread lands while calls are inside; and the
// calls that found the manager destroyed after their pause are counted (must stay 0).
std::atomic<int64_t> g_test_call_delay_us{0};
std::atomic<uint64_t> g_test_used_after_close{0};

// What a filter returns, decided with the GIL held (see peerpyrtc.SignalingManager.filter):
// None/True pass, False drop, str drop with that reason, bytes replace,
// (replace-marker, data) replace.
peerrtc::FilterResult filter_result(const py::object& r) {
  if (r.is_none() || (py::isinstance<py::bool_>(r) && r.cast<bool>())) return peerrtc::FilterResult::pass();
  if (py::isinstance<py::bool_>(r)) return peerrtc::FilterResult::drop();
  if (py::isinstance<py::str>(r)) return peerrtc::FilterResult::drop(r.cast<std::string>());
  if (py::isinstance<py::bytes>(r)) return peerrtc::FilterResult::replace(r.cast<std::string>());
  if (py::hasattr(r, "_peerpyrtc_replace")) {
    py::object d = r.attr("data");
    if (py::isinstance<py::bytes>(d)) return peerrtc::FilterResult::replace(d.cast<std::string>());
    return peerrtc::FilterResult::replace(py::str(d).cast<std::string>());
  }
  if (py::hasattr(r, "_peerpyrtc_drop")) return peerrtc::FilterResult::drop(py::str(r.attr("reason")).cast<std::string>());
  return peerrtc::FilterResult::pass();
}

// The C++ manager's lifetime under calls from many Python threads. Every call holds a Use
// (a reader count) for as long as it touches the manager; close() marks the manager closing
// (new calls raise PeerRTCError 503 at once), shuts it down (calls inside that wait for the
// network thread get their 503 at once), waits until no call is inside, and only then destroys
// it. Before, close() (from atexit, or a request handler of a threaded WSGI server) destroyed
// the manager under the other threads' calls, and stats() read freed memory.
class Manager {
 public:
  explicit Manager(peerrtc::Config c) : m_(std::make_unique<peerrtc::SignalingManager>(std::move(c))) {}
  ~Manager() {
    if (PyGILState_Check()) {
      py::gil_scoped_release release;
      close();
    } else {
      close();
    }
  }

  // Shuts down and destroys the C++ manager (threads joined) once no other call is inside it;
  // later calls raise 503. Idempotent; a second close() waits for the first one.
  void close() {
    std::unique_lock lock(mu_);
    if (closing_) {  // another thread is closing it: wait for the end (or its failure)
      gone_.wait(lock, [&] { return !m_ || !closing_; });
      return;
    }
    closing_ = true;
    lock.unlock();
    try {
      m_->shutdown();  // thread-safe: calls inside now end with 503 instead of waiting
    } catch (...) {    // std::logic_error from the network thread (a filter): stays open
      lock.lock();
      closing_ = false;
      gone_.notify_all();
      throw;
    }
    lock.lock();
    gone_.wait(lock, [&] { return users_ == 0; });
    auto m = std::move(m_);
    lock.unlock();
    m.reset();  // joins the manager's threads; no call can reach it any more
    lock.lock();
    gone_.notify_all();
  }
  bool closed() const {
    std::lock_guard lock(mu_);
    return closing_;
  }

 private:
  // A call's hold on the manager: while one exists, close() waits.
  class Use {
   public:
    explicit Use(Manager& owner) : owner_(owner) {
      std::lock_guard lock(owner_.mu_);
      if (owner_.closing_) throw peerrtc::ApiError(503, "the SignalingManager is closed");
      ++owner_.users_;
      m_ = owner_.m_.get();
    }
    ~Use() {
      std::lock_guard lock(owner_.mu_);
      if (--owner_.users_ == 0) owner_.gone_.notify_all();
    }
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;
    peerrtc::SignalingManager* operator->() const {
      if (auto d = g_test_call_delay_us.load()) {
        std::this_thread::sleep_for(std::chrono::microseconds(d));
        std::lock_guard lock(owner_.mu_);
        if (!owner_.m_) ++g_test_used_after_close;
      }
      return m_;
    }

   private:
    Manager& owner_;
    peerrtc::SignalingManager* m_ = nullptr;
  };
  Use m() { return Use(*this); }

  mutable std::mutex mu_;
  std::condition_variable gone_;  // users_ reached 0, or the manager was destroyed
  size_t users_ = 0;
  bool closing_ = false;
  std::unique_ptr<peerrtc::SignalingManager> m_;

 public:
  std::string offer(const std::string& room, const std::string& peer, const std::string& offer_json,
                    const std::string& token, const std::string& join_token, const std::string& fields_json) {
    json offer = json::parse(offer_json, nullptr, false);
    if (offer.is_discarded()) throw peerrtc::ApiError(400, "field 'offer' is not JSON");
    json fields = fields_json.empty() ? json::object() : json::parse(fields_json, nullptr, false);
    if (fields.is_discarded()) throw peerrtc::ApiError(400, "fields 'protocol'/'resume'/'restart' are not JSON");
    return m()->offer(room, peer, offer, token, join_token, fields).dump();
  }
  bool kick(const std::string& room, const std::string& peer, const std::string& reason) {
    return m()->kick(room, peer, reason);
  }
  void candidate(const std::string& room, const std::string& peer, const std::string& cand_json,
                 const std::string& token) {
    json cand = json::parse(cand_json, nullptr, false);
    if (cand.is_discarded()) throw peerrtc::ApiError(400, "field 'candidate' is not JSON");
    m()->candidate(room, peer, cand, token);
  }
  void leave(const std::string& room, const std::string& peer, const std::string& token) {
    m()->leave(room, peer, token);
  }
  std::pair<int, std::string> handle(const std::string& action, const std::string& body) {
    auto [status, j] = m()->handle(action, body);
    return {status, j.dump()};
  }
  std::string rooms_info() { return m()->rooms_info().dump(); }
  std::string room_peers(const std::string& room) { return m()->room_peers(room).dump(); }
  std::string ice_config(const std::string& peer) { return m()->ice_config(peer).dump(); }
  size_t broadcast(const std::string& room, const std::string& data, bool binary) {
    return m()->broadcast(room, data, binary);
  }
  bool send_to(const std::string& room, const std::string& peer, const std::string& data, bool binary) {
    return m()->send_to(room, peer, data, binary);
  }
  uint16_t udp_port() { return m()->udp_port(); }
  std::string stats() { return peerrtc::to_json(m()->stats()).dump(); }

  // dispatch(room, sender, data (str|bytes), to (str|None)) on a hook thread.
  uint64_t on_message(py::object fn) {
    auto ref = std::make_shared<PyRef>(std::move(fn));
    py::gil_scoped_release release;
    return m()->on_message([ref](const peerrtc::Message& msg) {
      if (!python_alive()) return;
      py::gil_scoped_acquire gil;
      try {
        ref->obj(msg.room, msg.sender, message_data(msg.data, msg.binary),
                 msg.to ? py::object(py::str(*msg.to)) : py::object(py::none()));
      } catch (py::error_already_set& e) {
        e.discard_as_unraisable("peerpyrtc message handler");
      }
    });
  }
  // dispatch(room, peer_id, info_json) on a hook thread.
  uint64_t on_presence(bool joined, py::object fn) {
    auto ref = std::make_shared<PyRef>(std::move(fn));
    py::gil_scoped_release release;
    auto cb = [ref](const std::string& room, const std::string& peer, const json& info) {
      call_python(ref, room, peer, info.dump());
    };
    return joined ? m()->on_peer_joined(cb) : m()->on_peer_left(cb);
  }
  bool remove_handler(uint64_t id) { return m()->remove_handler(id); }

  // fn(room, sender, data, to) -> result, on the network thread with the GIL; None clears it.
  void set_filter(py::object fn) {
    if (fn.is_none()) {
      py::gil_scoped_release release;
      m()->set_filter({});
      return;
    }
    auto ref = std::make_shared<PyRef>(std::move(fn));
    py::gil_scoped_release release;
    m()->set_filter([ref](const peerrtc::Message& msg) -> peerrtc::FilterResult {
      if (!python_alive()) return peerrtc::FilterResult::pass();
      py::gil_scoped_acquire gil;
      try {
        return filter_result(ref->obj(msg.room, msg.sender, message_data(msg.data, msg.binary),
                                      msg.to ? py::object(py::str(*msg.to)) : py::object(py::none())));
      } catch (py::error_already_set& e) {
        e.discard_as_unraisable("peerpyrtc filter (the message passes)");
        return peerrtc::FilterResult::pass();
      }
    });
  }

  std::shared_ptr<peerrtc::Participant> join(const std::string& room, const std::string& name,
                                             py::object on_message, py::object on_event) {
    auto msg_ref = std::make_shared<PyRef>(std::move(on_message));
    auto ev_ref = std::make_shared<PyRef>(std::move(on_event));
    py::gil_scoped_release release;
    return m()->join(
        room, name,
        [msg_ref](const peerrtc::Message& msg) {
          if (!python_alive()) return;
          py::gil_scoped_acquire gil;
          try {
            msg_ref->obj(msg.room, msg.sender, message_data(msg.data, msg.binary),
                         msg.to ? py::object(py::str(*msg.to)) : py::object(py::none()));
          } catch (py::error_already_set& e) {
            e.discard_as_unraisable("peerpyrtc participant on_message");
          }
        },
        [ev_ref](const json& ev) { call_python(ev_ref, ev.dump()); });
  }

};

template <typename T>
void set_ms(peerrtc::Config& c, std::chrono::milliseconds peerrtc::Config::*f, T seconds) {
  c.*f = std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

}  // namespace

PYBIND11_MODULE(_peerpyrtc, mod) {
  mod.doc() = "The compiled core of peerpyrtc (PeerRTC's C++ engine). Use the peerpyrtc package.";
  mod.attr("__version__") = PEERRTC_VERSION;
  g_error_type = py::module_::import("peerpyrtc._errors").attr("PeerRTCError");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const peerrtc::ApiError& e) {
      py::object inst = g_error_type(e.status(), e.what());
      PyErr_SetObject(g_error_type.ptr(), inst.ptr());
    } catch (const std::logic_error& e) {  // e.g. a second SignalingManager in the process
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
  // The interpreter never frees the module's global: leak it at exit rather than decref late.
  py::module_::import("atexit").attr("register")(py::cpp_function([] { g_error_type.release(); }));
  mod.def(
      "make_join_token",
      [](const std::string& secret, const std::string& room, const std::string& identity, long long ttl_s) {
        try {
          return peerrtc::make_join_token(secret, room, identity, std::chrono::seconds(ttl_s));
        } catch (const std::invalid_argument& e) {
          throw py::value_error(e.what());
        }
      },
      py::arg("secret"), py::arg("room"), py::arg("peer_id"), py::arg("ttl") = 600,
      "An HS256 join token (JWT: room, sub = peer_id, iat, exp) valid ttl seconds; ValueError on bad input.");

  mod.def("_test_call_delay", [](double s) { g_test_call_delay_us = static_cast<int64_t>(s * 1e6); },
          "test hook: every manager call pauses this many seconds once it holds the manager");
  mod.def("_test_used_after_close", [] { return g_test_used_after_close.load(); },
          "test hook: calls that found the manager destroyed after their pause");

  using peerrtc::Config;
  py::class_<Config>(mod, "Config", "peerrtc::Config: every limit of a SignalingManager (durations in seconds).")
      .def(py::init<>())
      .def_readwrite("debug", &Config::debug, "debug logging of the engine")
      .def_readwrite("udp_bind", &Config::udp_bind, "address of the UDP port (default 0.0.0.0)")
      .def_readwrite("udp_port", &Config::udp_port, "the one UDP port of every peer; 0 = ephemeral")
      .def_readwrite("public_ips", &Config::public_ips, "addresses announced as host candidates (behind NAT); empty = the interfaces'")
      .def_readwrite("ice_tcp", &Config::ice_tcp, "ICE over TCP on the UDP port's number, for networks that drop UDP")
      .def_readwrite("ice_tcp_max_connections", &Config::ice_tcp_max_connections, "ICE-TCP connections held at once")
      .def_readwrite("ice_tcp_max_per_ip", &Config::ice_tcp_max_per_ip, "ICE-TCP connections from one client address")
      .def_readwrite("ice_servers", &Config::ice_servers, "STUN URLs handed to clients by ice_config()")
      .def_readwrite("turn_urls", &Config::turn_urls, "TURN URLs handed to clients by ice_config(), with credentials")
      .def_readwrite("turn_secret", &Config::turn_secret, "TURN REST secret (coturn use-auth-secret): credentials minted per call")
      .def_readwrite("turn_username", &Config::turn_username, "static TURN username (instead of turn_secret)")
      .def_readwrite("turn_password", &Config::turn_password, "static TURN password")
      .def_readwrite("max_rooms", &Config::max_rooms, "rooms at once; more is a 503")
      .def_readwrite("max_peers_per_room", &Config::max_peers_per_room, "peers in one room; more is a 503")
      .def_readwrite("max_peers", &Config::max_peers, "peers in all rooms; more is a 503")
      .def_readwrite("max_pending_handshakes", &Config::max_pending_handshakes, "offers answered but not yet connected; more is a 503")
      .def_readwrite("sctp_streams", &Config::sctp_streams, "SCTP streams offered per peer (2..65535)")
      .def_readwrite("peer_message_rate", &Config::peer_message_rate, "messages per second a peer may send (0 = unlimited)")
      .def_readwrite("peer_message_burst", &Config::peer_message_burst, "burst of the message rate limit")
      .def_readwrite("peer_byte_rate", &Config::peer_byte_rate, "bytes per second a peer may send (0 = unlimited)")
      .def_readwrite("peer_byte_burst", &Config::peer_byte_burst, "burst of the byte rate limit")
      .def_readwrite("relay_high_water", &Config::relay_high_water, "bytes queued for a receiver before its senders are paused")
      .def_readwrite("max_peer_queue", &Config::max_peer_queue, "bytes queued for a receiver before it is disconnected as too slow")
      .def_readwrite("volatile_max_queue", &Config::volatile_max_queue,
                     "volatile lane: bytes unacknowledged past which a receiver's volatile messages are dropped")
      .def_readwrite("hook_threads", &Config::hook_threads, "threads running the hooks (1 keeps them in order)")
      .def_readwrite("hook_queue_capacity", &Config::hook_queue_capacity, "hook events queued; beyond it hook_overflow decides")
      .def_property(
          "hook_overflow",
          [](const Config& c) {
            return std::string(c.hook_overflow == Config::HookOverflow::Backpressure ? "backpressure" : "drop_oldest");
          },
          [](Config& c, const std::string& v) {
            if (v == "drop_oldest") c.hook_overflow = Config::HookOverflow::DropOldest;
            else if (v == "backpressure") c.hook_overflow = Config::HookOverflow::Backpressure;
            else throw py::value_error("hook_overflow must be 'drop_oldest' or 'backpressure', not '" + v + "'");
          },
          "a full hook queue: 'drop_oldest' (drop and count the oldest event) or 'backpressure' (pause the "
          "peers whose messages fill it; nothing is dropped, and each message handler call is waited for)")
      .def_readwrite("join_secret", &Config::join_secret, "offers must carry a join token signed with it (HS256 JWT)")
      .def_readwrite("history", &Config::history, "room-wide messages replayed to a peer that joins (0 = off)")
      .def_readwrite("history_bytes", &Config::history_bytes, "most payload bytes of history kept per room")
      .def_readwrite("resume_buffer", &Config::resume_buffer, "most messages a room keeps for protocol 2 resumes")
      .def_readwrite("resume_buffer_bytes", &Config::resume_buffer_bytes, "most payload bytes a room keeps for resumes")
      .def_property(
          "resume_window", [](const Config& c) { return static_cast<double>(c.resume_window.count()); },
          [](Config& c, double s) {
            if (!(s >= 0 && s <= 86400)) throw peerrtc::ApiError(400, "resume_window must be 0..86400 seconds");
            c.resume_window = std::chrono::seconds(static_cast<long long>(s));
          },
          "seconds a protocol 2 peer whose connection dropped keeps its place and can resume (0 = a drop is a leave)")
      .def_readwrite("require_leave_token", &Config::require_leave_token, "leave() needs the peer's token (peerpyrtc's default: False)")
      .def_property(
          "api_timeout", [](const Config& c) { return c.api_timeout.count() / 1000.0; },
          [](Config& c, double s) { set_ms(c, &Config::api_timeout, s); },
          "seconds a call waits for the network thread before a 503")
      .def_property(
          "consent_timeout", [](const Config& c) { return c.consent_timeout.count() / 1000.0; },
          [](Config& c, double s) { set_ms(c, &Config::consent_timeout, s); },
          "seconds without ICE consent before a peer is dropped")
      .def_property(
          "connect_timeout", [](const Config& c) { return c.connect_timeout.count() / 1000.0; },
          [](Config& c, double s) { set_ms(c, &Config::connect_timeout, s); },
          "seconds an answered offer may take to connect")
      .def_property(
          "slow_receiver_grace", [](const Config& c) { return c.slow_receiver_grace.count() / 1000.0; },
          [](Config& c, double s) { set_ms(c, &Config::slow_receiver_grace, s); },
          "seconds a receiver may stay congested before it is disconnected")
      .def_property(
          "ice_tcp_stun_timeout", [](const Config& c) { return c.ice_tcp_stun_timeout.count() / 1000.0; },
          [](Config& c, double s) { set_ms(c, &Config::ice_tcp_stun_timeout, s); },
          "seconds an ICE-TCP connection has to send a valid STUN request")
      .def_property(
          "turn_ttl", [](const Config& c) { return static_cast<double>(c.turn_ttl.count()); },
          [](Config& c, double s) { c.turn_ttl = std::chrono::seconds(static_cast<long long>(s)); },
          "seconds minted TURN credentials stay valid");

  auto nogil = py::call_guard<py::gil_scoped_release>();
  py::class_<Manager>(mod, "Manager", "peerrtc::SignalingManager; the GIL is released while it waits.")
      .def(py::init<peerrtc::Config>(), nogil)
      .def("close", &Manager::close, nogil, "Closes every peer and stops the threads; idempotent.")
      .def_property_readonly("closed", &Manager::closed)
      .def("offer", &Manager::offer, nogil, "offer(room, peer_id, offer_json, token, join_token, fields_json) -> answer JSON", py::arg("room"),
           py::arg("peer_id"), py::arg("offer_json"), py::arg("token"), py::arg("join_token"), py::arg("fields_json") = "")
      .def("kick", &Manager::kick, nogil, "kick(room, peer_id, reason) -> False if no such peer")
      .def("candidate", &Manager::candidate, nogil)
      .def("leave", &Manager::leave, nogil)
      .def("handle", &Manager::handle, nogil, "handle(action, body) -> (status, JSON body)")
      .def("rooms_info", &Manager::rooms_info, nogil)
      .def("room_peers", &Manager::room_peers, nogil)
      .def("ice_config", &Manager::ice_config, nogil)
      .def("broadcast", &Manager::broadcast, nogil)
      .def("send_to", &Manager::send_to, nogil)
      .def("udp_port", &Manager::udp_port, nogil)
      .def("stats", &Manager::stats, nogil)
      .def("on_message", &Manager::on_message, "fn(room, sender, data, to) on a hook thread")
      .def("on_presence", &Manager::on_presence, "on_presence(joined, fn(room, peer_id, info_json))")
      .def("remove_handler", &Manager::remove_handler, nogil)
      .def("set_filter", &Manager::set_filter, "fn(room, sender, data, to) on the network thread")
      .def("join", &Manager::join, "join(room, name, on_message, on_event) -> participant");

  py::class_<peerrtc::Participant, std::shared_ptr<peerrtc::Participant>>(mod, "Participant")
      .def_property_readonly("room", &peerrtc::Participant::room)
      .def_property_readonly("name", &peerrtc::Participant::name)
      .def("send", &peerrtc::Participant::send, py::arg("data"), py::arg("binary") = false, nogil)
      .def("send_to", &peerrtc::Participant::send_to, py::arg("peer_id"), py::arg("data"), py::arg("binary") = false, nogil)
      .def("leave", &peerrtc::Participant::leave, nogil);
}
