package lifecycle

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// CurrentHost describes the calling user and this machine.
func CurrentHost() (Host, error) {
	u, err := user.Current()
	if err != nil {
		return Host{}, fmt.Errorf("look up the current user: %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	h := Host{
		User:       u.Username,
		UID:        uint32(uid),
		GID:        uint32(gid),
		Home:       u.HomeDir,
		RuntimeDir: os.Getenv("XDG_RUNTIME_DIR"),
	}
	if h.RuntimeDir == "" {
		if dir := fmt.Sprintf("/run/user/%d", uid); isDir(dir) {
			h.RuntimeDir = dir
		}
	}
	if isDir("/tmp/.X11-unix") {
		h.X11Dir = "/tmp/.X11-unix"
	}
	h.HasGPU = isDir("/dev/dri")
	if _, err := exec.LookPath("nvidia-container-cli"); err == nil {
		h.HasNvidia = true
	}
	return h, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// CgroupV2 reports whether the host runs the unified cgroup hierarchy.
// On a cgroup v1 host nested podman cannot create cgroups inside an
// unprivileged container, so Kapsule configures it without them.
func CgroupV2() bool {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		return false
	}
	return st.Type == unix.CGROUP2_SUPER_MAGIC
}

// RootMayMap reports whether /etc/subuid and /etc/subgid let root map the
// given uid and gid into containers (what raw.idmap needs).
func RootMayMap(subuid, subgid io.Reader, uid, gid uint32) bool {
	return subidCovers(subuid, uid) && subidCovers(subgid, gid)
}

// RootMayMapFiles is RootMayMap on the system files.
func RootMayMapFiles(uid, gid uint32) bool {
	u, err := os.Open("/etc/subuid")
	if err != nil {
		return false
	}
	defer u.Close()
	g, err := os.Open("/etc/subgid")
	if err != nil {
		return false
	}
	defer g.Close()
	return RootMayMap(u, g, uid, gid)
}

func subidCovers(r io.Reader, id uint32) bool {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) != 3 || (f[0] != "root" && f[0] != "0") {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		n, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 == nil && err2 == nil && uint64(id) >= start && uint64(id) < start+n {
			return true
		}
	}
	return false
}

// IdmapMapsUser reports whether a raw.idmap value ("uid 1000 1000\ngid
// 1000 1000", "both 1000 1000", ranges "1000-1009 1000-1009") maps the
// host uid and gid to the same ids inside.
func IdmapMapsUser(rawIdmap string, uid, gid uint32) bool {
	var uidOK, gidOK bool
	for _, line := range strings.Split(rawIdmap, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		hostStart, hostEnd, ok1 := idRange(f[1])
		nsStart, _, ok2 := idRange(f[2])
		if !ok1 || !ok2 || hostStart != nsStart {
			continue
		}
		covers := func(id uint32) bool { return uint64(id) >= hostStart && uint64(id) <= hostEnd }
		switch f[0] {
		case "uid":
			uidOK = uidOK || covers(uid)
		case "gid":
			gidOK = gidOK || covers(gid)
		case "both":
			uidOK = uidOK || covers(uid)
			gidOK = gidOK || covers(gid)
		}
	}
	return uidOK && gidOK
}

// idRange parses "N" or "N-M".
func idRange(s string) (start, end uint64, ok bool) {
	a, b, isRange := strings.Cut(s, "-")
	start, err := strconv.ParseUint(a, 10, 32)
	if err != nil {
		return 0, 0, false
	}
	end = start
	if isRange {
		if end, err = strconv.ParseUint(b, 10, 32); err != nil || end < start {
			return 0, 0, false
		}
	}
	return start, end, true
}

// ShellFor picks the user's shell inside a container: the host's login
// shell when the container has it, else bash, else sh.
func ShellFor(hostShell string, exists func(string) bool) string {
	for _, s := range []string{hostShell, "/bin/bash", "/usr/bin/bash"} {
		if s != "" && filepath.IsAbs(s) && exists(s) {
			return s
		}
	}
	return "/bin/sh"
}
