//go:build e2e

package main

import (
	"errors"
	"io/fs"
	"syscall"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func statUID(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
