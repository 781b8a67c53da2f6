package main

import (
	"io"
	"strings"
	"testing"
)

func TestStdinPumpHandsUntakenInputToTheNextAttempt(t *testing.T) {
	t.Parallel()
	src, w := io.Pipe()
	p := newStdinPump(src)

	first := p.attempt()
	// The first attempt fails before reading anything.
	first.end()
	if n, err := first.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("ended attempt read %d, %v", n, err)
	}
	if first.consumed() {
		t.Fatal("first attempt took input")
	}

	go func() {
		_, _ = w.Write([]byte("hello "))
		_, _ = w.Write([]byte("world"))
		w.Close()
	}()
	second := p.attempt()
	got, err := io.ReadAll(second)
	if err != nil || string(got) != "hello world" {
		t.Fatalf("second attempt got %q, %v", got, err)
	}
	if !second.consumed() {
		t.Error("second attempt not marked as having taken input")
	}
}

func TestStdinPumpEOF(t *testing.T) {
	t.Parallel()
	p := newStdinPump(strings.NewReader(""))
	if got, err := io.ReadAll(p.attempt()); err != nil || len(got) != 0 {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestStartFailedOnlyMatchesIncusStartFailures(t *testing.T) {
	t.Parallel()
	if !startFailed(errString(`exec "sh" in instance "x": Failed to retrieve PID of executing child process`)) {
		t.Error("start failure not recognised")
	}
	if startFailed(errString(`exec "sh" in instance "x": command not found`)) {
		t.Error("other failure taken for a start failure")
	}
}

type errString string

func (e errString) Error() string { return string(e) }
