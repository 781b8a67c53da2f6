package incus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Image is an image in the server's store.
type Image struct {
	Fingerprint  string            `json:"fingerprint"`
	Filename     string            `json:"filename"`
	Size         int64             `json:"size"`
	Architecture string            `json:"architecture"`
	Type         string            `json:"type"` // container, virtual-machine
	Public       bool              `json:"public"`
	AutoUpdate   bool              `json:"auto_update"`
	Cached       bool              `json:"cached"`
	Properties   map[string]string `json:"properties"`
	Aliases      []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	} `json:"aliases"`
	Profiles   []string  `json:"profiles"`
	CreatedAt  time.Time `json:"created_at"`
	UploadedAt time.Time `json:"uploaded_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Project    string    `json:"project"`
}

// ImageAlias names an image.
type ImageAlias struct {
	Name        string `json:"name"`
	Target      string `json:"target"` // fingerprint
	Description string `json:"description"`
	Type        string `json:"type,omitempty"` // container, virtual-machine
}

// Images lists the images of the client's project.
func (c *Client) Images(ctx context.Context) ([]Image, error) {
	var imgs []Image
	if _, err := c.query(ctx, request{method: http.MethodGet, path: apiPath("images"), query: recursion(1)}, &imgs); err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	return imgs, nil
}

// Image returns an image by its fingerprint.
func (c *Client) Image(ctx context.Context, fingerprint string) (*Image, error) {
	var img Image
	if _, err := c.query(ctx, request{method: http.MethodGet, path: apiPath("images", fingerprint)}, &img); err != nil {
		return nil, fmt.Errorf("get image %s: %w", fingerprint, err)
	}
	return &img, nil
}

// DeleteImage starts deleting an image.
func (c *Client) DeleteImage(ctx context.Context, fingerprint string) (*Op, error) {
	what := "delete image " + fingerprint
	op, err := c.async(ctx, request{method: http.MethodDelete, path: apiPath("images", fingerprint)}, what)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return op, nil
}

// ImageAlias returns an alias.
func (c *Client) ImageAlias(ctx context.Context, name string) (*ImageAlias, error) {
	var a ImageAlias
	if _, err := c.query(ctx, request{method: http.MethodGet, path: apiPath("images", "aliases", name)}, &a); err != nil {
		return nil, fmt.Errorf("get image alias %q: %w", name, err)
	}
	return &a, nil
}

// CreateImageAlias creates an alias (ErrAlreadyExists if it exists).
func (c *Client) CreateImageAlias(ctx context.Context, alias ImageAlias) error {
	if _, err := c.query(ctx, request{method: http.MethodPost, path: apiPath("images", "aliases"), body: alias}, nil); err != nil {
		return fmt.Errorf("create image alias %q: %w", alias.Name, err)
	}
	return nil
}

// DeleteImageAlias removes an alias (not the image).
func (c *Client) DeleteImageAlias(ctx context.Context, name string) error {
	if _, err := c.query(ctx, request{method: http.MethodDelete, path: apiPath("images", "aliases", name)}, nil); err != nil {
		return fmt.Errorf("delete image alias %q: %w", name, err)
	}
	return nil
}

// ImageImport is a split image to import: a metadata tarball (with
// metadata.yaml and templates) and a root filesystem (tarball or
// squashfs).
type ImageImport struct {
	Metadata   io.Reader
	Rootfs     io.Reader
	Aliases    []string
	Properties map[string]string
	Public     bool
	Filename   string // shown as the image's file name
}

// ImportImage uploads a split image. The finished operation's metadata
// holds its "fingerprint" (SHA-256 of the metadata then the rootfs bytes).
func (c *Client) ImportImage(ctx context.Context, img ImageImport) (*Op, error) {
	const what = "import image"
	if img.Metadata == nil || img.Rootfs == nil {
		return nil, fmt.Errorf("%s: metadata and rootfs are both needed", what)
	}
	pr, pw := io.Pipe()
	form := multipart.NewWriter(pw)
	written := make(chan error, 1)
	go func() {
		err := writeImageParts(form, img)
		pw.CloseWithError(err)
		written <- err
	}()

	h := http.Header{}
	h.Set("Content-Type", form.FormDataContentType())
	if len(img.Aliases) > 0 {
		v := url.Values{"alias": img.Aliases}
		h.Set("X-Incus-aliases", v.Encode())
	}
	if len(img.Properties) > 0 {
		v := url.Values{}
		for _, k := range slices.Sorted(maps.Keys(img.Properties)) {
			v.Set(k, img.Properties[k])
		}
		h.Set("X-Incus-properties", v.Encode())
	}
	if img.Public {
		h.Set("X-Incus-public", "true")
	}
	if img.Filename != "" {
		h.Set("X-Incus-filename", img.Filename)
	}
	op, err := c.async(ctx, request{method: http.MethodPost, path: apiPath("images"), body: pr, header: h}, what)
	pr.CloseWithError(io.ErrClosedPipe) // ends the writer if the request stopped reading
	werr := <-written
	if err == nil && werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
		err = werr
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return op, nil
}

func writeImageParts(form *multipart.Writer, img ImageImport) error {
	part, err := form.CreateFormFile("metadata", "metadata.tar")
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, img.Metadata); err != nil {
		return fmt.Errorf("read metadata: %w", err)
	}
	part, err = form.CreateFormFile("rootfs", "rootfs")
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, img.Rootfs); err != nil {
		return fmt.Errorf("read rootfs: %w", err)
	}
	return form.Close()
}
