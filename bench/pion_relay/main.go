// Reference relay on pion/webrtc v3 (the Go stack under LiveKit) for the benchmark.
//
// Speaks the subset of docs/protocol.md the load generator uses: POST /offer {room, peer_id,
// offer} -> {sdp, type, peer_id, room, token, max_message_size}; GET /health. On the `peerrtc`
// channel: a welcome JSON first, then every text frame `m<text>` goes to every other peer of
// the room as `m<from>\n<text>`. Prints `READY {"http":P}` once listening.
//
// Build: bench/setup.sh (GOPATH mode against Debian's golang-github-pion-webrtc.v3-dev).
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/pion/ice/v2"
	"github.com/pion/webrtc/v3"
)

const maxPayload = 262144 - 66

var (
	mu    sync.RWMutex
	rooms = map[string]map[string]*webrtc.DataChannel{}
	api   *webrtc.API
)

type offerBody struct {
	Room   string                    `json:"room"`
	PeerID string                    `json:"peer_id"`
	Offer  webrtc.SessionDescription `json:"offer"`
}

func reply(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func broadcast(room, except, text string) {
	mu.RLock()
	defer mu.RUnlock()
	for pid, dc := range rooms[room] {
		if pid != except {
			_ = dc.SendText(text)
		}
	}
}

func join(room, peerID string, dc *webrtc.DataChannel) {
	mu.Lock()
	members := rooms[room]
	if members == nil {
		members = map[string]*webrtc.DataChannel{}
		rooms[room] = members
	}
	peers := []string{}
	for pid := range members {
		peers = append(peers, pid)
	}
	members[peerID] = dc
	mu.Unlock()
	welcome, _ := json.Marshal(map[string]interface{}{"type": "welcome", "room": room, "peer_id": peerID,
		"peers": peers, "max_message_size": maxPayload})
	_ = dc.SendText(string(welcome))
	joined, _ := json.Marshal(map[string]string{"type": "peer_joined", "peer_id": peerID})
	broadcast(room, peerID, string(joined))
}

func leave(room, peerID string, dc *webrtc.DataChannel) {
	mu.Lock()
	if rooms[room][peerID] == dc {
		delete(rooms[room], peerID)
	}
	if len(rooms[room]) == 0 {
		delete(rooms, room)
	}
	mu.Unlock()
	left, _ := json.Marshal(map[string]string{"type": "peer_left", "peer_id": peerID, "reason": "closed"})
	broadcast(room, peerID, string(left))
}

func handleOffer(w http.ResponseWriter, r *http.Request) {
	var body offerBody
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&body) != nil || body.Room == "" || body.PeerID == "" {
		reply(w, 400, map[string]string{"error": "bad offer"})
		return
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		reply(w, 500, map[string]string{"error": err.Error()})
		return
	}
	room, peerID := body.Room, body.PeerID
	prefix := "m" + peerID + "\n"
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnOpen(func() { join(room, peerID, dc) })
		dc.OnMessage(func(msg webrtc.DataChannelMessage) {
			if msg.IsString && len(msg.Data) > 0 && msg.Data[0] == 'm' {
				broadcast(room, peerID, prefix+string(msg.Data[1:]))
			}
		})
		dc.OnClose(func() { leave(room, peerID, dc) })
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			_ = pc.Close()
		}
	})
	if err := pc.SetRemoteDescription(body.Offer); err != nil {
		_ = pc.Close()
		reply(w, 400, map[string]string{"error": err.Error()})
		return
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		_ = pc.Close()
		reply(w, 400, map[string]string{"error": err.Error()})
		return
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	_ = pc.SetLocalDescription(answer)
	<-gathered
	// pion 3.1 puts no a=max-message-size in the answer (so 64 KiB by RFC 8841) yet reassembles
	// larger messages; advertise peerrtc-server's 262144 so the bulk scenario can run.
	sdp := strings.Replace(pc.LocalDescription().SDP, "a=sctp-port:5000\r\n",
		"a=sctp-port:5000\r\na=max-message-size:262144\r\n", 1)
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	reply(w, 200, map[string]interface{}{"sdp": sdp, "type": "answer", "peer_id": peerID,
		"room": room, "token": hex.EncodeToString(token), "max_message_size": maxPayload})
}

func main() {
	host := flag.String("host", "127.0.0.1", "address for HTTP and ICE")
	port := flag.Int("port", 8082, "HTTP port")
	role := flag.String("dtls-role", "server", "DTLS role in answers: server (a=setup:passive, like peerrtc-server) or client (a=setup:active, pion's default)")
	flag.Parse()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true) // the benchmark runs on loopback
	se.SetIPFilter(func(ip net.IP) bool { return ip.String() == *host })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	// Answer a=setup:passive (pion is the DTLS server), as peerrtc-server does, unless
	// -dtls-role client (pion's own default, a=setup:active; tests/interop uses both). Before
	// PeerRTC offered and selected use_srtp, pion failed both ways ("insufficient security").
	dtlsRole := webrtc.DTLSRoleServer
	switch *role {
	case "server":
	case "client":
		dtlsRole = webrtc.DTLSRoleClient
	default:
		fmt.Println("-dtls-role must be server or client")
		os.Exit(2)
	}
	if err := se.SetAnsweringDTLSRole(dtlsRole); err != nil {
		panic(err)
	}
	api = webrtc.NewAPI(webrtc.WithSettingEngine(se))
	http.HandleFunc("/offer", handleOffer)
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		mu.RLock()
		n := 0
		for _, m := range rooms {
			n += len(m)
		}
		nr := len(rooms)
		mu.RUnlock()
		reply(w, 200, map[string]interface{}{"status": "ok", "rooms": nr, "peers": n})
	})
	ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", *host, *port))
	if err != nil {
		fmt.Println("cannot listen:", err)
		return
	}
	fmt.Printf("READY {\"http\":%d}\n", ln.Addr().(*net.TCPAddr).Port)
	_ = http.Serve(ln, nil)
}
