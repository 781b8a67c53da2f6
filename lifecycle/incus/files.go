package incus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
)

// FileType is the type of a file inside an instance.
type FileType string

// File types.
const (
	TypeFile      FileType = "file"
	TypeDirectory FileType = "directory"
	TypeSymlink   FileType = "symlink"
)

// FileInfo describes a file inside an instance.
type FileInfo struct {
	Type FileType
	Mode fs.FileMode // permission bits (Incus 6.0 reports no setuid, setgid, sticky)
	UID  uint32
	GID  uint32
	// Entries lists a directory's entries (PullFile of a directory).
	Entries []string
}

// PushOptions say how PushFile writes.
type PushOptions struct {
	Type FileType    // TypeFile (default), TypeDirectory, or TypeSymlink (content = target)
	Mode fs.FileMode // permission bits (0777); 0: Incus's default (0644, directories 0755)
	UID  uint32      // owner inside the instance (0: root)
	GID  uint32
	// Append appends to an existing file instead of replacing it.
	Append bool
}

// PushFile writes content to path inside an instance. A directory's
// parent must exist.
func (c *Client) PushFile(ctx context.Context, instance, path string, content io.Reader, opts PushOptions) error {
	typ := opts.Type
	if typ == "" {
		typ = TypeFile
	}
	if opts.Mode&^fs.ModePerm != 0 {
		// Incus 6.0 drops setuid, setgid and sticky bits (and reads a mode
		// without a leading 0 as decimal).
		return fmt.Errorf("push %s to instance %q: mode %v: Incus sets only permission bits", path, instance, opts.Mode)
	}
	h := http.Header{}
	h.Set("X-Incus-type", string(typ))
	h.Set("X-Incus-uid", strconv.FormatUint(uint64(opts.UID), 10))
	h.Set("X-Incus-gid", strconv.FormatUint(uint64(opts.GID), 10))
	if opts.Mode != 0 {
		// Parsed with a base prefix: "0644", never "644" (decimal).
		h.Set("X-Incus-mode", fmt.Sprintf("%04o", opts.Mode.Perm()))
	}
	if opts.Append {
		h.Set("X-Incus-write", "append")
	} else {
		h.Set("X-Incus-write", "overwrite")
	}
	if content == nil || typ == TypeDirectory {
		content = http.NoBody
	}
	r := request{
		method: http.MethodPost,
		path:   apiPath("instances", instance, "files"),
		query:  url.Values{"path": {path}},
		body:   content,
		header: h,
	}
	if _, err := c.query(ctx, r, nil); err != nil {
		return fmt.Errorf("push %s to instance %q: %w", path, instance, err)
	}
	return nil
}

// PullFile reads a file inside an instance: its content (the target of a
// symlink; nil for a directory, whose entries are in the FileInfo) and
// what it is. Close the content.
func (c *Client) PullFile(ctx context.Context, instance, path string) (io.ReadCloser, *FileInfo, error) {
	resp, err := c.send(ctx, request{
		method: http.MethodGet,
		path:   apiPath("instances", instance, "files"),
		query:  url.Values{"path": {path}},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("pull %s from instance %q: %w", path, instance, err)
	}
	info, err := fileInfo(resp.Header)
	if err != nil {
		closeBody(resp)
		return nil, nil, fmt.Errorf("pull %s from instance %q: %w", path, instance, err)
	}
	if info.Type != TypeDirectory {
		return resp.Body, info, nil
	}
	defer closeBody(resp)
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return nil, nil, fmt.Errorf("pull %s from instance %q: %w", path, instance, transportError(err))
	}
	if err := env.decodeMetadata(&info.Entries); err != nil {
		return nil, nil, fmt.Errorf("pull %s from instance %q: %w", path, instance, err)
	}
	return nil, info, nil
}

func fileInfo(h http.Header) (*FileInfo, error) {
	info := &FileInfo{Type: FileType(h.Get("X-Incus-type"))}
	if info.Type == "" {
		info.Type = TypeFile
	}
	mode, err := strconv.ParseUint(h.Get("X-Incus-mode"), 8, 32)
	if err != nil {
		return nil, fmt.Errorf("bad X-Incus-mode %q", h.Get("X-Incus-mode"))
	}
	info.Mode = goMode(uint32(mode))
	uid, err := strconv.ParseUint(h.Get("X-Incus-uid"), 10, 32)
	if err != nil {
		return nil, fmt.Errorf("bad X-Incus-uid %q", h.Get("X-Incus-uid"))
	}
	gid, err := strconv.ParseUint(h.Get("X-Incus-gid"), 10, 32)
	if err != nil {
		return nil, fmt.Errorf("bad X-Incus-gid %q", h.Get("X-Incus-gid"))
	}
	info.UID, info.GID = uint32(uid), uint32(gid)
	return info, nil
}

// DeleteFile removes a file or an empty directory inside an instance.
func (c *Client) DeleteFile(ctx context.Context, instance, path string) error {
	r := request{
		method: http.MethodDelete,
		path:   apiPath("instances", instance, "files"),
		query:  url.Values{"path": {path}},
	}
	if _, err := c.query(ctx, r, nil); err != nil {
		return fmt.Errorf("delete %s in instance %q: %w", path, instance, err)
	}
	return nil
}

// goMode is the Go file mode of an st_mode permission word.
func goMode(u uint32) fs.FileMode {
	m := fs.FileMode(u & 0o777)
	if u&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if u&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if u&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}
