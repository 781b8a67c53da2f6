package main

import (
	"io"
	"sync"
	"sync/atomic"
)

// stdinPump reads stdin in one goroutine and hands the data to one
// attempt at a time, so that an exec Incus failed to start can be retried
// without losing input: an attempt that ends stops taking data, and what it
// did not take goes to the next one.
type stdinPump struct {
	ch   chan []byte
	once sync.Once
	src  io.Reader
}

func newStdinPump(src io.Reader) *stdinPump {
	return &stdinPump{ch: make(chan []byte), src: src}
}

func (p *stdinPump) start() {
	p.once.Do(func() {
		go func() {
			defer close(p.ch)
			for {
				buf := make([]byte, 32*1024)
				n, err := p.src.Read(buf)
				if n > 0 {
					p.ch <- buf[:n]
				}
				if err != nil {
					return
				}
			}
		}()
	})
}

// attempt returns a reader for one exec attempt; call end when the attempt
// is over.
func (p *stdinPump) attempt() *attemptReader {
	return &attemptReader{p: p, done: make(chan struct{})}
}

type attemptReader struct {
	p       *stdinPump
	done    chan struct{}
	endOnce sync.Once
	pending []byte
	taken   atomic.Int64
}

func (r *attemptReader) Read(b []byte) (int, error) {
	r.p.start()
	if len(r.pending) == 0 {
		select {
		case chunk, ok := <-r.p.ch:
			if !ok {
				return 0, io.EOF
			}
			r.taken.Add(int64(len(chunk)))
			r.pending = chunk
		case <-r.done:
			return 0, io.EOF
		}
	}
	n := copy(b, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

func (r *attemptReader) end() { r.endOnce.Do(func() { close(r.done) }) }

// consumed reports whether this attempt took any input.
func (r *attemptReader) consumed() bool { return r.taken.Load() > 0 }

// countingWriter records whether anything was written.
type countingWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}
