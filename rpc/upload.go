package rpc

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Upload is a file the page sent as an argument: a Blob or File passed to
// a stub. A method takes one as a parameter of type Upload or *Upload;
// uploads nested inside other values are refused.
//
// The bytes stay readable until the call's request has been answered.
type Upload struct {
	// Name is the file's name as the page gave it (a File's name; "blob"
	// for a bare Blob). It is the client's word: never use it as a path.
	Name string
	// ContentType is the MIME type the page declared, possibly empty.
	ContentType string
	// Size is the length of the file in bytes.
	Size int64

	fh *multipart.FileHeader
}

// Open returns a reader of the uploaded bytes. Each call reads from the
// start; close each reader when done.
func (u *Upload) Open() (io.ReadCloser, error) {
	if u == nil || u.fh == nil {
		return nil, errors.New("rpc: no uploaded file")
	}
	return u.fh.Open()
}

// UnmarshalJSON refuses to decode an upload from JSON: Args.Decode fills
// an Upload only when it is the argument itself, not a value inside one.
func (u *Upload) UnmarshalJSON([]byte) error { return errNestedUpload }

var errNestedUpload = errors.New("an upload may only be passed as an argument of its own")

// uploadRef is the placeholder a page puts in a call's arguments for a
// file sent in the multipart part named Part.
type uploadRef struct {
	Part string `json:"$upload"`
}

// Download is a file a method returns for the page to fetch: the page
// receives {url, name, contentType, size}, and the bytes are served once
// at url, under the server's prefix.
type Download struct {
	// Name is the file name the browser suggests when saving it.
	Name string
	// ContentType is the MIME type served; "application/octet-stream"
	// when empty.
	ContentType string
	// Body gives the bytes. If it is an io.Closer it is closed once
	// served, or when the download expires unfetched.
	Body io.Reader
	// Size is the length of Body in bytes, sent to the page and as
	// Content-Length. Zero means unknown, unless Body has a Len method
	// (bytes.Reader, bytes.Buffer, strings.Reader), which then gives it;
	// an unknown size reaches the page as -1.
	Size int64
}

// NewDownload returns a Download of data.
func NewDownload(name, contentType string, data []byte) *Download {
	return &Download{Name: name, ContentType: contentType, Body: bytes.NewReader(data), Size: int64(len(data))}
}

// downloadRef is what the page receives for a Download.
type downloadRef struct {
	URL         string `json:"url"`
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
}

// pendingDownload is a Download waiting to be fetched by the browser it
// was made for.
type pendingDownload struct {
	d      *Download
	httpID string
	timer  *time.Timer
}

// downloads keeps the Downloads not fetched yet, each under a random id.
type downloads struct {
	mu      sync.Mutex
	pending map[string]*pendingDownload
}

// add registers d for the browser httpID and returns its reference, with
// a URL under prefix. It expires after ttl if never fetched.
func (ds *downloads) add(prefix, httpID string, d *Download, ttl time.Duration) downloadRef {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	id := base64.RawURLEncoding.EncodeToString(raw[:])
	size := d.Size
	if size == 0 {
		if l, ok := d.Body.(interface{ Len() int }); ok {
			size = int64(l.Len())
		} else {
			size = -1
		}
	}
	p := &pendingDownload{d: d, httpID: httpID}
	ds.mu.Lock()
	if ds.pending == nil {
		ds.pending = map[string]*pendingDownload{}
	}
	ds.pending[id] = p
	p.timer = time.AfterFunc(ttl, func() {
		if ds.take(id, "") != nil {
			closeBody(d)
		}
	})
	ds.mu.Unlock()
	ct := d.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	return downloadRef{URL: prefix + "download/" + id, Name: d.Name, ContentType: ct, Size: size}
}

// take removes and returns the download id, if it is pending and, unless
// httpID is empty, made for that browser.
func (ds *downloads) take(id, httpID string) *pendingDownload {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	p := ds.pending[id]
	if p == nil || (httpID != "" && p.httpID != httpID) {
		return nil
	}
	delete(ds.pending, id)
	return p
}

// len returns the number of downloads not fetched yet.
func (ds *downloads) len() int {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return len(ds.pending)
}

func closeBody(d *Download) {
	if c, ok := d.Body.(io.Closer); ok {
		_ = c.Close()
	}
}

// serveDownload serves GET download/ID once, to the browser the download
// was made for, then forgets it.
func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request, id string) {
	browser, ok := s.readBrowserID(r)
	if !ok {
		s.refuse(w, NewError(CodeNotFound, "no such download"))
		return
	}
	p := s.downloads.take(id, browser)
	if p == nil {
		s.refuse(w, NewError(CodeNotFound, "no such download: it was fetched already, has expired, or belongs to another browser"))
		return
	}
	p.timer.Stop()
	d := p.d
	defer closeBody(d)
	h := w.Header()
	ct := d.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": d.Name}))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	size := d.Size
	if size == 0 {
		if l, ok := d.Body.(interface{ Len() int }); ok {
			size = int64(l.Len())
		}
	}
	if size > 0 {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	if r.Method == http.MethodHead || d.Body == nil {
		return
	}
	if _, err := io.Copy(w, d.Body); err != nil {
		s.log.Warn("parley: serving a download", "name", d.Name, "err", err)
	}
}

// WithMaxUploadBytes limits the total size of the files sent with one
// request. Default 32 MiB. A request past it fails with
// resource_exhausted.
func WithMaxUploadBytes(n int64) Option { return func(s *Server) { s.maxUpload = n } }

// WithDownloadTTL sets how long a Download waits to be fetched before it
// is forgotten. Default 5 minutes.
func WithDownloadTTL(d time.Duration) Option { return func(s *Server) { s.downloadTTL = d } }

// multipartMemory is how much of a multipart request's files is kept in
// memory; the rest goes to temporary files, removed after the reply.
const multipartMemory = 1 << 20

// isMultipart reports whether contentType is multipart/form-data, parsed
// exactly; the JSON batches of every call are told apart without parsing.
func isMultipart(contentType string) bool {
	if len(contentType) < len("multipart/") || !strings.EqualFold(contentType[:len("multipart/")], "multipart/") {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "multipart/form-data"
}

// postCall serves POST call: a JSON batch, or a multipart/form-data batch
// that carries files. A multipart request must carry the X-Parley header,
// as a JSON one must, and come from an allowed origin: a cross-site form
// can send multipart but not that header.
func (s *Server) postCall(w http.ResponseWriter, r *http.Request) {
	if !isMultipart(r.Header.Get("Content-Type")) {
		s.post(w, r, s.serveCall)
		return
	}
	if r.Header.Get("X-Parley") == "" {
		s.refuse(w, NewError(CodePermissionDenied, "requests must carry the X-Parley header"))
		return
	}
	if err := s.checkOrigin(r); err != nil {
		s.refuse(w, err)
		return
	}
	limit := s.maxUpload + s.maxBody
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	mr, err := r.MultipartReader()
	if err != nil {
		s.refuse(w, NewError(CodeInvalidArgument, "malformed multipart request: "+err.Error()))
		return
	}
	form, err := mr.ReadForm(multipartMemory)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) || errors.Is(err, multipart.ErrMessageTooLarge) {
			s.refuse(w, Errorf(CodeResourceExhausted, "upload too large: the limit is %d bytes of files", s.maxUpload))
		} else {
			s.refuse(w, NewError(CodeInvalidArgument, "malformed multipart request"))
		}
		return
	}
	defer func() { _ = form.RemoveAll() }()
	var total int64
	for _, fhs := range form.File {
		for _, fh := range fhs {
			total += fh.Size
		}
	}
	if total > s.maxUpload {
		s.refuse(w, Errorf(CodeResourceExhausted, "upload too large: %d bytes of files; the limit is %d", total, s.maxUpload))
		return
	}
	env := form.Value["envelope"]
	if len(env) != 1 {
		s.refuse(w, NewError(CodeInvalidArgument, `a multipart call needs one part named "envelope" holding the JSON request`))
		return
	}
	if int64(len(env[0])) > s.maxBody {
		s.refuse(w, Errorf(CodeResourceExhausted, "request body over %d bytes", s.maxBody))
		return
	}
	x := &exchange{srv: s, r: r, httpID: s.browserID(w, r), files: form.File}
	if err := s.decodeRequest([]byte(env[0]), &x.req, &x.spare); err != nil {
		s.refuse(w, err)
		return
	}
	s.serveCall(w, r, x)
}
