// PeerRTC public API.
#pragma once
#include "peerrtc/broadcaster.hpp"
#include "peerrtc/config.hpp"
#include "peerrtc/join_token.hpp"
#include "peerrtc/log.hpp"
#include "peerrtc/signaling_manager.hpp"
