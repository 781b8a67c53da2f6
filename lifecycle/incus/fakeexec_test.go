package incus

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// fakeExec serves exec operations the way incusd 6.0 does (see
// cmd/incusd/instance_exec.go upstream and protocols.md C.7): websockets
// 0, 1, 2 and control (0 and control when interactive); binary data
// frames; an empty text frame ends a stream; the command starts once the
// required sockets are connected; the exit code is metadata "return";
// every socket is closed once the operation has ended.
type fakeExec struct {
	f   *fakeIncus
	cmd func(p *fakeProc) int // the "command"

	// pingEvery makes the server ping sockets 0 and control.
	pingEvery time.Duration

	mu      sync.Mutex
	ops     map[string]*fakeProc
	seq     int
	last    *fakeProc
	crashed chan struct{}
}

// fakeProc is one exec operation on the fake server.
type fakeProc struct {
	id      string
	req     execPost
	secrets map[string]string // socket name -> secret

	mu        sync.Mutex
	conns     map[string]*websocket.Conn
	writeMu   sync.Mutex // serialises server writes on socket 0 (interactive)
	connected chan struct{}
	once      sync.Once

	Stdin   *io.PipeReader // ends at the client's barrier
	stdinW  *io.PipeWriter
	Stdout  io.Writer
	Stderr  io.Writer
	Control chan execControl // messages on the control socket
	Killed  chan struct{}    // control socket lost, or SIGKILL received
	kill    sync.Once

	stdinBarrier  chan struct{} // the client ended stdin with a barrier
	clientBarrier chan struct{} // interactive: the client ended socket 0
	outputWrites  atomic.Int32  // messages the client sent on 1 or 2: must stay 0
	stdinFrames   []int         // sizes of the binary messages on 0 (under mu)
	pongs         atomic.Int32

	done chan struct{}
	ret  int
	err  string
}

func newFakeExec(f *fakeIncus, cmd func(p *fakeProc) int) *fakeExec {
	x := &fakeExec{f: f, cmd: cmd, ops: map[string]*fakeProc{}, crashed: make(chan struct{})}
	f.handle("POST /1.0/instances/{name}/exec", x.post)
	f.handle("GET /1.0/operations/{id}/websocket", x.websocket)
	f.handle("GET /1.0/operations/{id}/wait", x.wait)
	f.handle("GET /1.0/operations/{id}", x.get)
	return x
}

func (x *fakeExec) proc(id string) *fakeProc {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.ops[id]
}

// lastProc is the most recent exec operation.
func (x *fakeExec) lastProc() *fakeProc {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.last
}

func (x *fakeExec) post(w http.ResponseWriter, r *http.Request) {
	var req execPost
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		errorReply(w, http.StatusBadRequest, err.Error())
		return
	}
	x.mu.Lock()
	x.seq++
	id := fmt.Sprintf("00000000-0000-0000-0000-%012d", x.seq)
	names := []string{"0", "1", "2", "control"}
	if req.Interactive {
		names = []string{"0", "control"}
	}
	p := &fakeProc{
		id: id, req: req, secrets: map[string]string{}, conns: map[string]*websocket.Conn{},
		connected: make(chan struct{}), Control: make(chan execControl, 16),
		Killed: make(chan struct{}), stdinBarrier: make(chan struct{}),
		clientBarrier: make(chan struct{}), done: make(chan struct{}),
	}
	for i, n := range names {
		p.secrets[n] = fmt.Sprintf("secret-%d-%s-%d", x.seq, n, i)
	}
	p.Stdin, p.stdinW = io.Pipe()
	x.ops[id] = p
	x.last = p
	x.mu.Unlock()

	fds := map[string]any{}
	for n, s := range p.secrets {
		fds[n] = s
	}
	asyncReply(w, Operation{
		ID: id, Class: "websocket", Description: "Executing command",
		Status: "Running", StatusCode: StatusRunning,
		Metadata: map[string]any{"fds": fds, "command": req.Command, "interactive": req.Interactive},
	})
	go x.run(p)
}

// run waits for the sockets, runs the command and ends the operation.
func (x *fakeExec) run(p *fakeProc) {
	select {
	case <-p.connected:
	case <-time.After(10 * time.Second):
		p.finish(-1, "Timed out waiting for websockets to connect")
		return
	}
	if p.req.Interactive {
		out := &wsOut{p: p, conn: p.conn("0")}
		p.Stdout, p.Stderr = out, out
	} else {
		p.Stdout = &wsOut{p: p, conn: p.conn("1")}
		p.Stderr = &wsOut{p: p, conn: p.conn("2")}
	}
	code := x.cmd(p)
	// Like incusd: the streams end with a barrier, then the operation.
	if p.req.Interactive {
		p.writeMu.Lock()
		_ = p.conn("0").WriteMessage(websocket.TextMessage, nil)
		p.writeMu.Unlock()
		select { // incusd waits for the client's end of the terminal stream
		case <-p.clientBarrier:
		case <-time.After(5 * time.Second):
		}
	} else {
		_ = p.conn("1").WriteMessage(websocket.TextMessage, nil)
		_ = p.conn("2").WriteMessage(websocket.TextMessage, nil)
	}
	p.finish(code, "")
}

func (p *fakeProc) conn(name string) *websocket.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns[name]
}

func (p *fakeProc) finish(code int, err string) {
	p.mu.Lock()
	p.ret = code
	if err != "" {
		p.err = err
	}
	var conns []*websocket.Conn
	for _, c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	close(p.done)
	time.Sleep(5 * time.Millisecond) // let the wait answer go first, as incusd's does
	for _, c := range conns {
		c.Close()
	}
}

func (p *fakeProc) operation() Operation {
	op := Operation{ID: p.id, Class: "websocket", Status: "Running", StatusCode: StatusRunning,
		Metadata: map[string]any{}}
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		op.Metadata["return"] = p.ret
		op.Status, op.StatusCode = "Success", StatusSuccess
		if p.err != "" {
			op.Status, op.StatusCode, op.Err = "Failure", StatusFailure, p.err
		}
	default:
	}
	return op
}

// wsOut writes a stream of the command as binary messages.
type wsOut struct {
	p    *fakeProc
	conn *websocket.Conn
}

func (o *wsOut) Write(b []byte) (int, error) {
	o.p.writeMu.Lock()
	defer o.p.writeMu.Unlock()
	if err := o.conn.WriteMessage(websocket.BinaryMessage, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (p *fakeProc) markKilled() { p.kill.Do(func() { close(p.Killed) }) }

var fakeUpgrader = websocket.Upgrader{ReadBufferSize: 64 << 10, WriteBufferSize: 64 << 10}

func (x *fakeExec) websocket(w http.ResponseWriter, r *http.Request) {
	p := x.proc(r.PathValue("id"))
	if p == nil {
		errorReply(w, http.StatusNotFound, "Operation not found")
		return
	}
	name := ""
	for n, s := range p.secrets {
		if s == r.URL.Query().Get("secret") {
			name = n
		}
	}
	if name == "" {
		errorReply(w, http.StatusForbidden, "permission denied")
		return
	}
	conn, err := fakeUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	conn.SetPongHandler(func(string) error { p.pongs.Add(1); return nil })
	p.mu.Lock()
	p.conns[name] = conn
	required := 0
	for n := range p.secrets {
		if p.conns[n] != nil && (n != "control" || p.req.Interactive) {
			required++
		}
	}
	need := len(p.secrets)
	if !p.req.Interactive {
		need-- // incusd does not require control when not interactive
	}
	p.mu.Unlock()
	if required == need {
		p.once.Do(func() { close(p.connected) })
	}
	if x.pingEvery > 0 && (name == "0" || name == "control") {
		go func() {
			for {
				if conn.WriteControl(websocket.PingMessage, []byte("keepalive"), time.Now().Add(time.Second)) != nil {
					return
				}
				select {
				case <-p.done:
					return
				case <-time.After(x.pingEvery):
				}
			}
		}()
	}
	// The handler goroutine reads the socket until it closes.
	switch name {
	case "0":
		for {
			typ, data, err := conn.ReadMessage()
			if err != nil {
				p.stdinW.CloseWithError(io.ErrUnexpectedEOF)
				return
			}
			if typ == websocket.TextMessage {
				if p.req.Interactive {
					closeOnce(p.clientBarrier)
				}
				closeOnce(p.stdinBarrier)
				p.stdinW.Close()
				continue // keep reading: pings, close
			}
			p.mu.Lock()
			p.stdinFrames = append(p.stdinFrames, len(data))
			p.mu.Unlock()
			if _, err := p.stdinW.Write(data); err != nil {
				continue // the command stopped reading stdin
			}
		}
	case "control":
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				select {
				case <-p.done:
				default:
					p.markKilled() // incusd kills the command when control goes
				}
				return
			}
			var msg execControl
			if json.Unmarshal(data, &msg) == nil {
				if msg.Command == "signal" && msg.Signal == 9 {
					p.markKilled()
				}
				p.Control <- msg
			}
		}
	default: // 1, 2: the client must never send anything here
		for {
			typ, _, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if typ == websocket.BinaryMessage || typ == websocket.TextMessage {
				p.outputWrites.Add(1)
			}
		}
	}
}

// crash drops every connection of every operation, like incusd dying.
func (x *fakeExec) crash() {
	x.mu.Lock()
	defer x.mu.Unlock()
	close(x.crashed)
	for _, p := range x.ops {
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	}
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func (x *fakeExec) wait(w http.ResponseWriter, r *http.Request) {
	p := x.proc(r.PathValue("id"))
	if p == nil {
		errorReply(w, http.StatusNotFound, "Operation not found")
		return
	}
	// incusd writes the header at once and the body when done.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	select {
	case <-p.done:
	case <-r.Context().Done():
		return
	case <-x.crashed:
		panic(http.ErrAbortHandler) // drops the connection, as a dying incusd does
	}
	op := p.operation()
	if op.StatusCode == StatusFailure {
		_ = json.NewEncoder(w).Encode(map[string]any{"type": "error", "error_code": 500, "error": op.Err})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "sync", "status_code": 200, "metadata": op})
}

func (x *fakeExec) get(w http.ResponseWriter, r *http.Request) {
	p := x.proc(r.PathValue("id"))
	if p == nil {
		errorReply(w, http.StatusNotFound, "Operation not found")
		return
	}
	syncReply(w, p.operation())
}

// Commands for the fake.

// catErr3 is `sh -c 'cat; echo err >&2; exit 3'`.
func catErr3(p *fakeProc) int {
	_, _ = io.Copy(p.Stdout, p.Stdin)
	_, _ = io.WriteString(p.Stderr, "err\n")
	return 3
}

// untilSignal is `sleep infinity`: it ends on a signal (128+n) or when
// killed (137).
func untilSignal(p *fakeProc) int {
	for {
		select {
		case msg := <-p.Control:
			if msg.Command == "signal" {
				return 128 + msg.Signal
			}
		case <-p.Killed:
			return 137
		}
	}
}

// echoCommand writes its argv and environment to stdout.
func echoCommand(p *fakeProc) int {
	fmt.Fprintf(p.Stdout, "%s|%s", strings.Join(p.req.Command, " "), p.req.Environment["FOO"])
	return 0
}
