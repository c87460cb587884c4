// pion/webrtc 3.1 (Debian golang-github-pion-webrtc.v3-dev, unpatched) as a PeerRTC client, for
// the interop and client suites. Built by tests/interop/stacks/build-pion.sh (GOPATH mode).
//
//	pion-client matrix --http-port P [--peer-id ID] [--detach]
//	    The interop matrix of tests/interop/matrix.js against peerrtc-testserver: the control
//	    channel, the 4 channel types each opened by the client and by the server, messages of
//	    0/1/1024/16384/65536/262144 bytes as text and binary plus a 65536-byte multi-byte UTF-8
//	    text, echoed and compared byte for byte and by kind; a flow-controlled burst on the
//	    reliable channels; /events; closes both ways; pc.Close() -> peer_closed. Prints a line per
//	    failed or skipped check and ends with `N passed, M failed, K skipped`; exit 0 only when
//	    nothing failed and something passed. --detach reads through DataChannel.Detach() (pion's
//	    documented way to receive messages larger than OnMessage's 64 KiB buffer) instead.
//
//	pion-client room --http-port P --room R --peer-id ID
//	    A member of a room of peerrtc-server (wire protocol v1, docs/protocol.md) driven through
//	    stdin/stdout with one JSON object per line (the same protocol as aiortc_client.py room):
//	      out: {"ev":"ready","welcome":{...}}, {"ev":"frame","text":s} / {"ev":"frame","binary":hex},
//	           {"ev":"sent","id":..}, {"ev":"closed"}, {"ev":"error","error":..}
//	      in:  {"op":"send_text","text":s} -> `m<text>`; {"op":"send_binary","hex":h} -> 0x01 +
//	           payload; {"op":"leave"} -> POST /leave, close, exit 0. stdin closing also ends it.
//
// Only 127.0.0.1 is used: loopback candidates only (SetIncludeLoopbackCandidate + an IP filter),
// no mDNS, UDP4, no STUN server.
package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pion/datachannel"
	"github.com/pion/ice/v2"
	"github.com/pion/sctp"
	"github.com/pion/webrtc/v3"
)

var verbose = os.Getenv("PEERRTC_VERBOSE") != ""

func logf(format string, args ...interface{}) {
	if verbose {
		fmt.Fprintf(os.Stderr, "[pion] "+format+"\n", args...)
	}
}

// ---- the stack's own limitations, found with this program (tests/interop/README.md) ---------
//
// pion/webrtc 3.1.56's DataChannel.readLoop reads every message into a 65535-byte buffer
// (datachannel.go: dataChannelBufferSize = math.MaxUint16); a larger message makes
// ReadDataChannel fail with io.ErrShortBuffer and the read loop then closes the channel. So with
// OnMessage pion cannot receive the 65536-byte echoes, although its offer (no a=max-message-size:
// RFC 8841's 64 KiB default) allows them. --detach reads with a larger buffer instead.
const pionOnMessageLimit = 65535

var skipOnMessage = "pion/webrtc 3.1 OnMessage reads into a 65535-byte buffer (datachannel.go " +
	"dataChannelBufferSize = math.MaxUint16); a %d-byte message fails with io.ErrShortBuffer and closes the channel"

// pion/sctp's Association.MaxMessageSize is 65536 (defaultMaxMessageSize) and pion/webrtc 3.1
// never raises it from the answer's a=max-message-size, so Stream.WriteSCTP refuses anything
// larger with ErrOutboundPacketTooLarge; pion cannot send the 262144-byte messages at all.
const pionSendLimit = 65536

var skipSend = "pion/sctp 3.1 refuses to send more than 65536 bytes (Association.MaxMessageSize, " +
	"never raised from the answer's a=max-message-size): %v"

// ---- HTTP -----------------------------------------------------------------------------------

var httpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

func httpJSON(method, url string, body interface{}) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("content-type", "application/json")
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, out, err
}

func newAPI(detach bool) *webrtc.API {
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if detach {
		se.DetachDataChannels()
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

// offerSDP creates the offer and waits for ICE gathering (no trickle).
func offerSDP(pc *webrtc.PeerConnection) (string, error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		return "", errors.New("ICE gathering did not complete in 10 s")
	}
	return pc.LocalDescription().SDP, nil
}

// ---- payloads (the same kinds and sizes as matrix.js) -----------------------------------------

const ascii = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\t\n"

var sizes = []int{0, 1, 1024, 16384, 65536, 262144}

type message struct {
	text bool
	size int
	desc string
	data []byte // UTF-8 for text
}

func utf8Payload(n int) []byte {
	cycle := []string{"A", "é", "Ж", "€", "中", "😀", "ß", "🚀", "z"}
	var b bytes.Buffer
	for i := 0; ; i++ {
		c := cycle[i%len(cycle)]
		if b.Len()+len(c) > n-4 {
			break
		}
		b.WriteString(c)
	}
	for b.Len() < n {
		b.WriteByte('.')
	}
	return b.Bytes()
}

func messagesFor(sz []int, seed int64) []message {
	rnd := rand.New(rand.NewSource(seed))
	var out []message
	for _, n := range sz {
		t := make([]byte, n)
		for i := range t {
			t[i] = ascii[rnd.Intn(len(ascii))]
		}
		out = append(out, message{true, n, fmt.Sprintf("%d-byte text", n), t})
		b := make([]byte, n)
		rnd.Read(b)
		out = append(out, message{false, n, fmt.Sprintf("%d-byte binary", n), b})
	}
	for _, n := range sz {
		if n == 65536 {
			u := utf8Payload(65536)
			out = append(out, message{true, 65536, fmt.Sprintf("65536-byte multi-byte UTF-8 text (%d code points)", utf8.RuneCount(u)), u})
		}
	}
	return out
}

func kind(text bool) string {
	if text {
		return "text"
	}
	return "binary"
}

// compare returns "" if got is the exact echo of m (same kind, same bytes), else what differs.
func compare(m message, got webrtc.DataChannelMessage) string {
	if got.IsString != m.text {
		return fmt.Sprintf("expected %s, got %s (%d bytes)", kind(m.text), kind(got.IsString), len(got.Data))
	}
	if !bytes.Equal(m.data, got.Data) {
		d := 0
		for d < len(m.data) && d < len(got.Data) && m.data[d] == got.Data[d] {
			d++
		}
		return fmt.Sprintf("sent %d bytes, got %d, first difference at byte %d", len(m.data), len(got.Data), d)
	}
	if m.text && !utf8.Valid(got.Data) {
		return "text echo is not valid UTF-8"
	}
	return ""
}

// ---- channel plumbing ---------------------------------------------------------------------

type channelType struct {
	name, protocol string
	ordered        bool
	rtx, life      *uint16
}

func u16(v uint16) *uint16 { return &v }

var channelTypes = []channelType{
	{"reliable", "", true, nil, nil},
	{"unordered", "x-peerrtc-unordered", false, nil, nil},
	{"rexmit5", "x-peerrtc-rexmit", false, u16(5), nil},
	{"lifetime2000", "x-peerrtc-lifetime", true, nil, u16(2000)},
}

func (t channelType) partial() bool { return t.rtx != nil || t.life != nil }

type Chan struct {
	dc       *webrtc.DataChannel
	label    string
	openedBy string
	typ      channelType
	msgs     chan webrtc.DataChannelMessage
	opened   chan struct{}
	closed   chan struct{}
	once     sync.Once
	rwc      datachannel.ReadWriteCloser // --detach
	detach   bool
}

func newChan(dc *webrtc.DataChannel, openedBy string, detach bool) *Chan {
	c := &Chan{dc: dc, label: dc.Label(), openedBy: openedBy, msgs: make(chan webrtc.DataChannelMessage, 4096),
		opened: make(chan struct{}), closed: make(chan struct{}), detach: detach}
	dc.OnOpen(func() {
		if c.detach {
			rwc, err := dc.Detach()
			if err != nil {
				fmt.Printf("FAIL: detach %s: %v\n", c.label, err)
				return
			}
			c.rwc = rwc
			go c.readDetached()
		}
		close(c.opened)
	})
	dc.OnMessage(func(m webrtc.DataChannelMessage) { c.msgs <- m })
	dc.OnClose(c.markClosed)
	return c
}

func (c *Chan) markClosed() { c.once.Do(func() { close(c.closed) }) }

func (c *Chan) readDetached() {
	buf := make([]byte, 1<<20)
	for {
		n, isString, err := c.rwc.ReadDataChannel(buf)
		if err != nil {
			logf("%s: detached read ended: %v", c.label, err)
			c.markClosed()
			return
		}
		c.msgs <- webrtc.DataChannelMessage{IsString: isString, Data: append([]byte(nil), buf[:n]...)}
	}
}

func (c *Chan) send(m message) error {
	if c.detach {
		_, err := c.rwc.WriteDataChannel(m.data, m.text)
		return err
	}
	if m.text {
		return c.dc.SendText(string(m.data))
	}
	return c.dc.Send(m.data)
}

func (c *Chan) next(timeout time.Duration) (webrtc.DataChannelMessage, bool) {
	select {
	case m := <-c.msgs:
		return m, true
	case <-time.After(timeout):
		return webrtc.DataChannelMessage{}, false
	}
}

func (c *Chan) waitBuffered(limit uint64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for c.dc.BufferedAmount() > limit {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func wait(ch chan struct{}, timeout time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(timeout):
		return false
	}
}

func echoTimeout(size int) time.Duration {
	return 5*time.Second + time.Duration(float64(size)/1048576*20*float64(time.Second))
}

// ---- results ------------------------------------------------------------------------------

type results struct {
	mu                      sync.Mutex
	passed, failed, skipped int
}

func (r *results) check(ok bool, format string, args ...interface{}) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	what := fmt.Sprintf(format, args...)
	if ok {
		r.passed++
		logf("ok: %s", what)
	} else {
		r.failed++
		fmt.Println("FAIL: " + what)
	}
	return ok
}

func (r *results) skip(what, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped++
	fmt.Printf("SKIP: %s: %s\n", what, reason)
}

// ---- the matrix -----------------------------------------------------------------------------

type event struct {
	Type              string   `json:"type"`
	PeerID            string   `json:"peer_id"`
	Label             string   `json:"label"`
	Protocol          *string  `json:"protocol"`
	Ordered           *bool    `json:"ordered"`
	MaxRetransmits    *float64 `json:"maxRetransmits"`
	MaxPacketLifeTime *float64 `json:"maxPacketLifeTime"`
	OpenedBy          string   `json:"opened_by"`
	Reason            string   `json:"reason"`
	Size              *float64 `json:"size"`
	Binary            *bool    `json:"binary"`
	Error             string   `json:"error"`
}

func optNum(p *uint16) string {
	if p == nil {
		return "null"
	}
	return strconv.Itoa(int(*p))
}

func optF(p *float64) string {
	if p == nil {
		return "null"
	}
	return strconv.Itoa(int(*p))
}

type matrix struct {
	base, peerID string
	detach       bool
	res          *results
	pc           *webrtc.PeerConnection

	mu       sync.Mutex
	incoming map[string]*Chan
	waiters  map[string]chan *Chan
}

func (x *matrix) events() ([]event, error) {
	st, body, err := httpJSON("GET", x.base+"/events", nil)
	if err != nil || st != 200 {
		return nil, fmt.Errorf("GET /events: %d %v %s", st, err, body)
	}
	var all struct{ Events []event }
	if err := json.Unmarshal(body, &all); err != nil {
		return nil, err
	}
	var mine []event
	for _, e := range all.Events {
		if e.PeerID == x.peerID {
			mine = append(mine, e)
		}
	}
	return mine, nil
}

func (x *matrix) waitEvent(pred func(event) bool, timeout time.Duration) *event {
	deadline := time.Now().Add(timeout)
	for {
		evs, err := x.events()
		if err == nil {
			for i := range evs {
				if pred(evs[i]) {
					return &evs[i]
				}
			}
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (x *matrix) waitIncoming(label string, timeout time.Duration) *Chan {
	x.mu.Lock()
	if c, ok := x.incoming[label]; ok {
		delete(x.incoming, label)
		x.mu.Unlock()
		return c
	}
	w := make(chan *Chan, 1)
	x.waiters[label] = w
	x.mu.Unlock()
	select {
	case c := <-w:
		return c
	case <-time.After(timeout):
		return nil
	}
}

func (x *matrix) run() {
	r := x.res
	x.pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		c := newChan(dc, "server", x.detach) // subscribe at once: messages may follow the OPEN
		x.mu.Lock()
		defer x.mu.Unlock()
		if w, ok := x.waiters[c.label]; ok {
			delete(x.waiters, c.label)
			w <- c
		} else {
			x.incoming[c.label] = c
		}
	})
	t0 := time.Now()
	ctlDC, err := x.pc.CreateDataChannel("control", nil)
	if !r.check(err == nil, "create control channel: %v", err) {
		return
	}
	control := newChan(ctlDC, "client", x.detach) // with --detach every channel must be detached
	sdp, err := offerSDP(x.pc)
	if !r.check(err == nil, "create the offer: %v", err) {
		return
	}
	st, body, err := httpJSON("POST", x.base+"/offer", map[string]interface{}{
		"room": "interop", "peer_id": x.peerID, "offer": map[string]string{"sdp": sdp, "type": "offer"}})
	if !r.check(err == nil && st == 200, "POST /offer -> 200 (got %d %v %.300s)", st, err, body) {
		return
	}
	var answer struct{ SDP string }
	_ = json.Unmarshal(body, &answer)
	mms := regexp.MustCompile(`a=max-message-size:(\d+)`).FindStringSubmatch(answer.SDP)
	r.check(mms != nil && mms[1] == "262144", "answer a=max-message-size is 262144 (got %v)", mms)
	err = x.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.SDP})
	if !r.check(err == nil, "SetRemoteDescription(answer): %v", err) {
		return
	}
	if !r.check(wait(control.opened, 15*time.Second), "control channel open within 15 s (ICE %s, connection %s)",
		x.pc.ICEConnectionState(), x.pc.ConnectionState()) {
		return
	}
	fmt.Printf("offer->control open: %.1f ms\n", float64(time.Since(t0).Microseconds())/1000)

	command := func(cmd map[string]interface{}) map[string]interface{} {
		b, _ := json.Marshal(cmd)
		if err := ctlDC.SendText(string(b)); err != nil {
			return map[string]interface{}{"send_error": err.Error()}
		}
		m, ok := control.next(5 * time.Second)
		if !ok {
			return nil
		}
		var rep map[string]interface{}
		if json.Unmarshal(m.Data, &rep) != nil || !m.IsString {
			return map[string]interface{}{"unparsable": string(m.Data)}
		}
		return rep
	}

	rep := command(map[string]interface{}{"cmd": "frobnicate"})
	_, hasErr := rep["error"].(string)
	r.check(rep != nil && rep["ok"] == false && hasErr, "unknown control command -> ok:false with an error (got %v)", rep)

	// ---- open channels ----
	var chans []*Chan
	for _, t := range channelTypes {
		ordered, proto := t.ordered, t.protocol
		dc, err := x.pc.CreateDataChannel("c-"+t.name, &webrtc.DataChannelInit{Ordered: &ordered, Protocol: &proto,
			MaxRetransmits: t.rtx, MaxPacketLifeTime: t.life})
		if !r.check(err == nil, "create c-%s: %v", t.name, err) {
			continue
		}
		c := newChan(dc, "client", x.detach)
		c.typ = t
		chans = append(chans, c)
	}
	for _, c := range chans {
		r.check(wait(c.opened, 5*time.Second), "client-opened %s open within 5 s (readyState %s)", c.label, c.dc.ReadyState())
	}
	for _, t := range channelTypes {
		label := "s-" + t.name
		cmd := map[string]interface{}{"cmd": "open", "label": label, "protocol": t.protocol, "ordered": t.ordered,
			"maxRetransmits": t.rtx, "maxPacketLifeTime": t.life}
		rep := command(cmd)
		r.check(rep != nil && rep["ok"] == true && rep["label"] == label, "control open %s -> ok (got %v)", label, rep)
		c := x.waitIncoming(label, 5*time.Second)
		if !r.check(c != nil, "server-opened %s arrived within 5 s", label) {
			continue
		}
		c.typ = t
		r.check(wait(c.opened, 5*time.Second), "server-opened %s open", label)
		chans = append(chans, c)
	}
	var open []*Chan
	for _, c := range chans {
		select {
		case <-c.opened:
			open = append(open, c)
		default:
		}
	}
	chans = open

	for _, c := range chans {
		t := c.typ
		got := fmt.Sprintf("protocol=%q ordered=%v maxRetransmits=%s maxPacketLifeTime=%s",
			c.dc.Protocol(), c.dc.Ordered(), optNum(c.dc.MaxRetransmits()), optNum(c.dc.MaxPacketLifeTime()))
		want := fmt.Sprintf("protocol=%q ordered=%v maxRetransmits=%s maxPacketLifeTime=%s",
			t.protocol, t.ordered, optNum(t.rtx), optNum(t.life))
		r.check(got == want, "channel %s (opened by %s) as seen by pion: %s, expected %s", c.label, c.openedBy, got, want)
	}

	// ---- echo every message on every channel, one at a time ----
	seed := int64(1)
	for _, c := range chans {
		attempts := 1
		if c.typ.partial() {
			attempts = 3
		}
		var stale []message
		tc := time.Now()
		for _, m := range messagesFor(sizes, seed) {
			what := fmt.Sprintf("echo of %s on %s", m.desc, c.label)
			if m.size > pionSendLimit {
				err := c.send(m)
				if errors.Is(err, sctp.ErrOutboundPacketTooLarge) {
					r.skip(what, fmt.Sprintf(skipSend, err))
				} else {
					r.check(false, "%s: pion was expected to refuse it (ErrOutboundPacketTooLarge) and returned %v; "+
						"if pion sends it now, remove the skip", what, err)
				}
				continue
			}
			if !x.detach && m.size > pionOnMessageLimit {
				r.skip(what, fmt.Sprintf(skipOnMessage, m.size))
				continue
			}
			for attempt := 1; attempt <= attempts; attempt++ {
				if !c.waitBuffered(65536, 10*time.Second) {
					r.check(false, "bufferedAmount of %s below 64 KiB within 10 s before %s", c.label, m.desc)
					break
				}
				if err := c.send(m); err != nil {
					r.check(false, "send %s on %s: %v", m.desc, c.label, err)
					break
				}
				deadline := time.Now().Add(echoTimeout(m.size))
				var got webrtc.DataChannelMessage
				ok := false
				for {
					got, ok = c.next(time.Until(deadline))
					if !ok {
						break
					}
					late := false
					for _, s := range stale {
						if compare(s, got) == "" && compare(m, got) != "" {
							late = true // a late echo of an earlier message
						}
					}
					if !late {
						break
					}
				}
				if !ok {
					if attempt < attempts {
						logf("%s: lost on a partially reliable channel, sending again", what)
						continue
					}
					r.check(false, "%s within %v", what, echoTimeout(m.size))
					break
				}
				diff := compare(m, got)
				r.check(diff == "", "%s: %s", what, map[bool]string{true: "identical", false: diff}[diff == ""])
				break
			}
			if c.typ.partial() {
				stale = append(stale, m)
			}
		}
		logf("channel %s: echoes done in %v", c.label, time.Since(tc))
		seed++
	}

	// ---- burst on the reliable ordered channels ----
	for _, c := range chans {
		t := c.typ
		if !t.ordered || t.partial() {
			continue
		}
		var msgs []message
		skipped := 0
		for _, m := range append(messagesFor(sizes, 100+seed), messagesFor(sizes, 200+seed)...) {
			if m.size > pionSendLimit || (!x.detach && m.size > pionOnMessageLimit) {
				skipped++
				continue
			}
			msgs = append(msgs, m)
		}
		seed++
		if skipped > 0 {
			reason := fmt.Sprintf(skipSend, "see above")
			if !x.detach {
				reason = fmt.Sprintf(skipOnMessage, 65536) + "; " + reason
			}
			limit := pionOnMessageLimit
			if x.detach {
				limit = pionSendLimit
			}
			r.skip(fmt.Sprintf("burst of the %d messages larger than %d bytes on %s", skipped, limit, c.label), reason)
		}
		tb := time.Now()
		errc := make(chan string, 1)
		go func() {
			for i, m := range msgs {
				got, ok := c.next(2 * echoTimeout(m.size))
				if !ok {
					errc <- fmt.Sprintf("burst echo %d (%s) on %s did not arrive in time", i, m.desc, c.label)
					return
				}
				if d := compare(m, got); d != "" {
					errc <- fmt.Sprintf("burst echo %d (%s) on %s: %s", i, m.desc, c.label, d)
					return
				}
			}
			errc <- ""
		}()
		sendErr := ""
		for _, m := range msgs {
			if !c.waitBuffered(262144, 10*time.Second) {
				sendErr = "bufferedAmount stayed above 256 KiB for 10 s"
				break
			}
			if err := c.send(m); err != nil {
				sendErr = err.Error()
				break
			}
		}
		e := <-errc
		r.check(sendErr == "" && e == "", "burst of %d messages on %s echoed in order (%v) %s %s", len(msgs), c.label,
			time.Since(tb).Round(time.Millisecond), sendErr, e)
	}

	// ---- server events ----
	evs, err := x.events()
	if r.check(err == nil, "GET /events: %v", err) {
		first := map[string]int{}
		for i, e := range evs {
			if _, ok := first[e.Type]; !ok {
				first[e.Type] = i
			}
		}
		pcI, ok1 := first["peer_connected"]
		chI, ok2 := first["channel_open"]
		r.check(ok1 && ok2 && pcI < chI, "peer_connected before the first channel_open")
		n := 0
		for _, e := range evs {
			if e.Type == "channel_open" && e.Label == "control" && e.OpenedBy == "client" {
				n++
			}
		}
		r.check(n == 1, "server saw control opened by the client")
		for _, c := range chans {
			t := c.typ
			var ev *event
			for i := range evs {
				if evs[i].Type == "channel_open" && evs[i].Label == c.label {
					ev = &evs[i]
				}
			}
			if !r.check(ev != nil, "server event channel_open for %s", c.label) {
				continue
			}
			got := fmt.Sprintf("protocol=%q opened_by=%s ordered=%v maxRetransmits=%s maxPacketLifeTime=%s",
				deref(ev.Protocol), ev.OpenedBy, ev.Ordered != nil && *ev.Ordered, optF(ev.MaxRetransmits), optF(ev.MaxPacketLifeTime))
			want := fmt.Sprintf("protocol=%q opened_by=%s ordered=%v maxRetransmits=%s maxPacketLifeTime=%s",
				t.protocol, c.openedBy, t.ordered, optNum(t.rtx), optNum(t.life))
			r.check(got == want, "server event channel_open for %s: %s, expected %s", c.label, got, want)
		}
	}

	// ---- close ----
	for _, c := range chans {
		if c.openedBy != "client" {
			continue
		}
		err := c.dc.Close()
		r.check(err == nil && wait(c.closed, 5*time.Second), "client-closed %s: closed within 5 s (%v, readyState %s)", c.label, err, c.dc.ReadyState())
		label := c.label
		r.check(x.waitEvent(func(e event) bool { return e.Type == "channel_closed" && e.Label == label }, 5*time.Second) != nil,
			"server reported channel_closed for client-closed %s", label)
	}
	for _, c := range chans {
		if c.openedBy != "server" {
			continue
		}
		rep := command(map[string]interface{}{"cmd": "close", "label": c.label})
		r.check(rep != nil && rep["ok"] == true && rep["cmd"] == "close" && rep["label"] == c.label, "control close %s -> ok (got %v)", c.label, rep)
		r.check(wait(c.closed, 5*time.Second), "server-closed %s: pion saw the close within 5 s (readyState %s)", c.label, c.dc.ReadyState())
		label := c.label
		r.check(x.waitEvent(func(e event) bool { return e.Type == "channel_closed" && e.Label == label }, 5*time.Second) != nil,
			"server reported channel_closed for server-closed %s", label)
	}
	rep = command(map[string]interface{}{"cmd": "close", "label": "no-such-channel"})
	r.check(rep != nil && rep["ok"] == false, "control close of an unknown label -> ok:false (got %v)", rep)

	tc := time.Now()
	err = x.pc.Close()
	ev := x.waitEvent(func(e event) bool { return e.Type == "peer_closed" }, 10*time.Second)
	if r.check(err == nil && ev != nil, "server saw peer_closed within 10 s of pc.Close() (%v)", err) {
		fmt.Printf("pc.Close() -> peer_closed (%s): %v\n", ev.Reason, time.Since(tc).Round(time.Millisecond))
	}
}

func deref(s *string) string {
	if s == nil {
		return "<missing>"
	}
	return *s
}

// ---- room mode (peerrtc-server, wire protocol v1) ---------------------------------------------

var outMu sync.Mutex

func emit(v map[string]interface{}) {
	b, _ := json.Marshal(v)
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

func runRoom(base, room, peerID string) int {
	pc, err := newAPI(false).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		emit(map[string]interface{}{"ev": "error", "error": err.Error()})
		return 1
	}
	defer pc.Close()
	ordered := true
	dc, err := pc.CreateDataChannel("peerrtc", &webrtc.DataChannelInit{Ordered: &ordered})
	if err != nil {
		emit(map[string]interface{}{"ev": "error", "error": err.Error()})
		return 1
	}
	welcomed := make(chan struct{})
	closed := make(chan struct{})
	var once, closeOnce sync.Once
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if m.IsString {
			if len(m.Data) > 0 && m.Data[0] == '{' {
				var ev map[string]interface{}
				if json.Unmarshal(m.Data, &ev) == nil && ev["type"] == "welcome" {
					first := false
					once.Do(func() { first = true })
					if first {
						emit(map[string]interface{}{"ev": "ready", "welcome": ev})
						close(welcomed)
						return
					}
				}
			}
			emit(map[string]interface{}{"ev": "frame", "text": string(m.Data)})
		} else {
			emit(map[string]interface{}{"ev": "frame", "binary": hex.EncodeToString(m.Data)})
		}
	})
	dc.OnClose(func() {
		closeOnce.Do(func() {
			emit(map[string]interface{}{"ev": "closed"})
			close(closed)
		})
	})
	sdp, err := offerSDP(pc)
	if err != nil {
		emit(map[string]interface{}{"ev": "error", "error": err.Error()})
		return 1
	}
	st, body, err := httpJSON("POST", base+"/offer", map[string]interface{}{
		"room": room, "peer_id": peerID, "offer": map[string]string{"sdp": sdp, "type": "offer"}})
	if err != nil || st != 200 {
		emit(map[string]interface{}{"ev": "error", "error": fmt.Sprintf("POST /offer: %d %v %.300s", st, err, body)})
		return 1
	}
	var answer struct {
		SDP   string `json:"sdp"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		emit(map[string]interface{}{"ev": "error", "error": "bad answer: " + err.Error()})
		return 1
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.SDP}); err != nil {
		emit(map[string]interface{}{"ev": "error", "error": "SetRemoteDescription: " + err.Error()})
		return 1
	}
	select {
	case <-welcomed:
	case <-time.After(20 * time.Second):
		emit(map[string]interface{}{"ev": "error", "error": fmt.Sprintf("no welcome within 20 s (ICE %s, connection %s, channel %s)",
			pc.ICEConnectionState(), pc.ConnectionState(), dc.ReadyState())})
		return 1
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		select {
		case <-closed:
			return 0
		case line, ok := <-lines:
			if !ok {
				return 0 // stdin closed: the test is gone
			}
			var cmd struct {
				Op   string      `json:"op"`
				Text string      `json:"text"`
				Hex  string      `json:"hex"`
				ID   interface{} `json:"id"`
			}
			if err := json.Unmarshal([]byte(line), &cmd); err != nil {
				emit(map[string]interface{}{"ev": "error", "error": "bad command: " + err.Error()})
				continue
			}
			switch cmd.Op {
			case "send_text":
				err = dc.SendText("m" + cmd.Text)
			case "send_binary":
				var p []byte
				p, err = hex.DecodeString(cmd.Hex)
				if err == nil {
					err = dc.Send(append([]byte{1}, p...))
				}
			case "leave":
				st, body, err := httpJSON("POST", base+"/leave", map[string]string{"room": room, "peer_id": peerID, "token": answer.Token})
				if err != nil || st != 200 {
					emit(map[string]interface{}{"ev": "error", "error": fmt.Sprintf("POST /leave: %d %v %s", st, err, body)})
					return 1
				}
				return 0
			default:
				err = errors.New("unknown op " + cmd.Op)
			}
			if err != nil {
				emit(map[string]interface{}{"ev": "error", "error": err.Error()})
			} else {
				emit(map[string]interface{}{"ev": "sent", "id": cmd.ID})
			}
		}
	}
}

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "matrix" && os.Args[1] != "room") {
		fmt.Fprintln(os.Stderr, "usage: pion-client matrix|room --http-port P [--peer-id ID] [--room R] [--detach] [--timeout S]")
		os.Exit(2)
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	host := fs.String("host", "127.0.0.1", "server address")
	port := fs.Int("http-port", 0, "server HTTP port")
	peerID := fs.String("peer-id", fmt.Sprintf("pion-%d", os.Getpid()), "peer id")
	room := fs.String("room", "interop", "room (room mode)")
	detach := fs.Bool("detach", false, "matrix: read through DataChannel.Detach() with a 1 MiB buffer")
	timeout := fs.Int("timeout", 150, "matrix: seconds for the whole run")
	_ = fs.Parse(os.Args[2:])
	if *port == 0 {
		fmt.Fprintln(os.Stderr, "--http-port is required")
		os.Exit(2)
	}
	base := fmt.Sprintf("http://%s:%d", *host, *port)
	fmt.Fprintf(os.Stderr, "pion/webrtc v3 (Debian), detach=%v\n", *detach)
	if mode == "room" {
		os.Exit(runRoom(base, *room, *peerID))
	}
	res := &results{}
	pc, err := newAPI(*detach).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		fmt.Println("FAIL: NewPeerConnection:", err)
		os.Exit(1)
	}
	x := &matrix{base: base, peerID: *peerID, detach: *detach, res: res, pc: pc,
		incoming: map[string]*Chan{}, waiters: map[string]chan *Chan{}}
	done := make(chan struct{})
	go func() { x.run(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Duration(*timeout) * time.Second):
		res.check(false, "the matrix did not finish within %d s", *timeout)
	}
	_ = pc.Close()
	res.mu.Lock()
	fmt.Printf("%d passed, %d failed, %d skipped\n", res.passed, res.failed, res.skipped)
	ok := res.failed == 0 && res.passed > 0
	res.mu.Unlock()
	if !ok {
		os.Exit(1)
	}
}
