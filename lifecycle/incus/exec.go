package incus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"
)

// Cmd is a command to run in an instance.
type Cmd struct {
	Command []string          // argv; not run through a shell
	Env     map[string]string // added to what Incus sets: PATH, LANG, and HOME and USER for root only
	User    uint32            // uid inside the instance (0: root)
	Group   uint32            // gid inside the instance (0: root)
	Cwd     string            // working directory; default /root for root, / for other users

	// Stdin is copied to the command until it returns EOF, which the
	// command then sees; nil gives it an empty stdin. Stdout and Stderr
	// receive its output (nil discards it).
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	// Interactive runs the command on a pseudo-terminal of Width x Height
	// characters: Stdin and Stdout then carry the terminal's byte stream
	// (stderr included); Stderr is unused.
	Interactive   bool
	Width, Height int
}

// execPost is the body of POST /1.0/instances/{name}/exec.
type execPost struct {
	Command     []string          `json:"command"`
	Environment map[string]string `json:"environment"`
	WaitForWS   bool              `json:"wait-for-websocket"`
	Interactive bool              `json:"interactive"`
	Width       int               `json:"width,omitempty"`
	Height      int               `json:"height,omitempty"`
	User        uint32            `json:"user,omitempty"`
	Group       uint32            `json:"group,omitempty"`
	Cwd         string            `json:"cwd,omitempty"`
}

// execControl is a message on exec's control socket.
type execControl struct {
	Command string            `json:"command"` // signal, window-resize
	Args    map[string]string `json:"args,omitempty"`
	Signal  int               `json:"signal,omitempty"`
}

// Process is a command started by StartExec.
type Process struct {
	op   *Op
	what string

	control *wsWriter
	stdin   *wsWriter
	stdout  *websocket.Conn // stream mode: read by the Stream, closed by it
	conns   []*websocket.Conn

	killed   chan struct{} // closed by kill
	killOnce sync.Once
	abort    context.CancelFunc // stops waiting for the operation
	stopCtx  func() bool

	done     chan struct{} // closed once the result is known
	exitCode int
	err      error
}

// Exec runs a command in an instance and returns its exit code once it has
// ended and its output is drained. A non-zero exit code is no error; the
// error says why the command could not run or finish (a command Incus
// cannot find gives 127 and an error). Cancelling ctx kills the command.
func (c *Client) Exec(ctx context.Context, instance string, cmd Cmd) (int, error) {
	p, err := c.StartExec(ctx, instance, cmd)
	if err != nil {
		return -1, err
	}
	return p.Wait()
}

// StartExec starts a command in an instance. Cancelling ctx kills the
// command. The copy from cmd.Stdin may outlive the command until Stdin's
// next Read returns.
func (c *Client) StartExec(ctx context.Context, instance string, cmd Cmd) (*Process, error) {
	p, fds, err := c.startExec(ctx, instance, cmd)
	if err != nil {
		return nil, err
	}
	p.run(ctx, cmd, fds, false)
	return p, nil
}

// startExec posts the exec request and connects its websockets.
func (c *Client) startExec(ctx context.Context, instance string, cmd Cmd) (*Process, map[string]*websocket.Conn, error) {
	what := fmt.Sprintf("exec %q in instance %q", commandName(cmd.Command), instance)
	if len(cmd.Command) == 0 {
		return nil, nil, fmt.Errorf("%s: no command", what)
	}
	env := cmd.Env
	if env == nil {
		env = map[string]string{}
	}
	body := execPost{
		Command:     cmd.Command,
		Environment: env,
		WaitForWS:   true,
		Interactive: cmd.Interactive,
		User:        cmd.User,
		Group:       cmd.Group,
		Cwd:         cmd.Cwd,
	}
	if cmd.Interactive {
		body.Width, body.Height = cmd.Width, cmd.Height
	}
	op, err := c.async(ctx, request{method: http.MethodPost, path: apiPath("instances", instance, "exec"), body: body}, what)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	secrets, _ := op.Metadata["fds"].(map[string]any)
	names := []string{"control", "0", "1", "2"}
	if cmd.Interactive {
		names = names[:2]
	}
	// The command starts once all its streams are connected; dial them at
	// once.
	conns := make([]*websocket.Conn, len(names))
	g, gctx := errgroup.WithContext(ctx)
	for i, name := range names {
		secret, _ := secrets[name].(string)
		if secret == "" {
			return nil, nil, fmt.Errorf("%s: operation has no %q websocket", what, name)
		}
		g.Go(func() error {
			conn, err := c.dialOperation(gctx, op.ID, secret)
			conns[i] = conn
			return err
		})
	}
	if err := g.Wait(); err != nil {
		for _, conn := range conns {
			if conn != nil {
				conn.Close()
			}
		}
		return nil, nil, fmt.Errorf("%s: connect: %w", what, err)
	}
	fds := make(map[string]*websocket.Conn, len(names))
	for i, name := range names {
		fds[name] = conns[i]
	}
	p := &Process{
		op:      op,
		what:    what,
		control: &wsWriter{conn: fds["control"]},
		stdin:   &wsWriter{conn: fds["0"]},
		conns:   conns,
		killed:  make(chan struct{}),
		done:    make(chan struct{}),
	}
	return p, fds, nil
}

// run starts the goroutines that move the streams and wait for the end.
// In stream mode the caller reads stdout and writes stdin itself.
func (p *Process) run(ctx context.Context, cmd Cmd, fds map[string]*websocket.Conn, stream bool) {
	waitCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	p.abort = abort

	type result struct {
		op  Operation
		err error
	}
	waited := make(chan result, 1)
	go func() {
		op, err := p.op.wait(waitCtx, -1)
		waited <- result{op, err}
	}()

	// Readers on the sockets nobody else reads, so that pings are
	// answered; they end when the connections close.
	var readers sync.WaitGroup
	readers.Go(func() { discard(fds["control"]) })

	var output sync.WaitGroup // streams that must be drained before the end
	outErrs := make([]error, 2)
	if cmd.Interactive {
		output.Go(func() {
			_, outErrs[0] = copyOut(cmd.Stdout, &wsReader{conn: fds["0"]})
			// The server waits for our end of the terminal stream too.
			_ = p.stdin.end()
		})
	} else {
		readers.Go(func() { discard(fds["0"]) })
		if stream {
			p.stdout = fds["1"]
		} else {
			output.Go(func() { _, outErrs[0] = copyOut(cmd.Stdout, &wsReader{conn: fds["1"]}) })
		}
		output.Go(func() { _, outErrs[1] = copyOut(cmd.Stderr, &wsReader{conn: fds["2"]}) })
	}
	if !stream {
		go p.copyIn(cmd.Stdin)
	}

	p.stopCtx = context.AfterFunc(ctx, p.kill)

	go func() {
		var res result
		outputDone := make(chan struct{})
		go func() { output.Wait(); close(outputDone) }()
		select {
		case res = <-waited:
			// The server sends all output before it ends the operation;
			// whatever is still unread is in flight.
			select {
			case <-outputDone:
			case <-time.After(5 * time.Second):
			}
		case <-outputDone:
			res = <-waited
		}
		p.stopCtx()
		abort()
		for _, conn := range p.conns {
			if conn != p.stdout {
				conn.Close()
			}
		}
		output.Wait()
		readers.Wait()
		p.finish(ctx, res.op, res.err, outErrs)
		close(p.done)
	}()
}

// copyIn copies the caller's stdin and then ends the stream.
func (p *Process) copyIn(in io.Reader) {
	if in != nil {
		if _, err := io.Copy(p.stdin, in); err != nil {
			return // the connection is gone or the stream ended
		}
	}
	_ = p.stdin.end()
}

// copyOut drains a stream into w; after a failed write it keeps
// draining, so the command is never blocked, and reports the write error.
func copyOut(w io.Writer, r io.Reader) (int64, error) {
	if w == nil {
		w = io.Discard
	}
	sw := &stickyWriter{w: w}
	n, err := io.Copy(sw, r)
	if sw.err != nil {
		return n, sw.err
	}
	return n, err
}

type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err == nil {
		_, s.err = s.w.Write(p)
	}
	return len(p), nil
}

func (p *Process) finish(ctx context.Context, op Operation, err error, outErrs []error) {
	p.exitCode = -1
	if code, ok := op.ExitCode(); ok {
		p.exitCode = code
	}
	select {
	case <-p.killed:
		if ctx.Err() != nil {
			p.err = fmt.Errorf("%s: killed: %w", p.what, ctx.Err())
			return
		}
	default:
	}
	if err != nil {
		p.err = err // already names the exec
		return
	}
	for i, e := range outErrs {
		if e != nil && !errors.Is(e, io.EOF) {
			p.err = fmt.Errorf("%s: %s: %w", p.what, []string{"stdout", "stderr"}[i], e)
			return
		}
	}
}

// Wait waits for the command to end and its output to be drained, and
// returns its exit code.
func (p *Process) Wait() (int, error) {
	<-p.done
	return p.exitCode, p.err
}

// Done is closed when the command has ended and its output is drained.
func (p *Process) Done() <-chan struct{} { return p.done }

// Signal sends a signal to the command.
func (p *Process) Signal(sig syscall.Signal) error {
	if err := p.control.writeJSON(execControl{Command: "signal", Signal: int(sig)}); err != nil {
		return fmt.Errorf("%s: signal %d: %w", p.what, sig, err)
	}
	return nil
}

// Resize tells an interactive command's terminal its new size.
func (p *Process) Resize(width, height int) error {
	msg := execControl{Command: "window-resize", Args: map[string]string{
		"width": strconv.Itoa(width), "height": strconv.Itoa(height),
	}}
	if err := p.control.writeJSON(msg); err != nil {
		return fmt.Errorf("%s: resize terminal: %w", p.what, err)
	}
	return nil
}

// kill sends SIGKILL and closes the control socket, on which Incus kills
// the command too.
func (p *Process) kill() {
	p.killOnce.Do(func() {
		close(p.killed)
		_ = p.control.writeJSON(execControl{Command: "signal", Signal: int(syscall.SIGKILL)})
		p.control.conn.Close()
		// Should Incus not answer any more, stop waiting for it.
		time.AfterFunc(10*time.Second, p.abort)
	})
}

func commandName(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	return argv[0]
}
