package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/rpc"
)

// labServer serves the remoting test page and a Lab service: wait blocks
// until its context ends and reports why; upper turns an upload into an
// upper-cased download; echo and fail answer at once. /gate/ stands for
// a server behind a login redirect, /down/ for one behind a broken proxy.
func labServer(t *testing.T) (url string, started <-chan struct{}, ended <-chan error, calls *atomic.Int32) {
	t.Helper()
	start, end := make(chan struct{}, 4), make(chan error, 4)
	requests := &atomic.Int32{}
	srv := rpc.NewServer()
	srv.Register(rpc.ServiceDesc{Name: "Lab", Methods: []rpc.MethodDesc{
		{Name: "wait", Handler: func(ctx context.Context, _ rpc.Args) (any, error) {
			start <- struct{}{}
			select {
			case <-ctx.Done():
				end <- ctx.Err()
			case <-time.After(30 * time.Second):
				end <- errors.New("the call's context was never ended")
			}
			return nil, ctx.Err()
		}},
		{Name: "upper", Params: []string{"file", "note"}, Handler: func(ctx context.Context, args rpc.Args) (any, error) {
			var f rpc.Upload
			var note string
			if err := args.Decode(0, &f); err != nil {
				return nil, err
			}
			if err := args.Decode(1, &note); err != nil {
				return nil, err
			}
			r, err := f.Open()
			if err != nil {
				return nil, err
			}
			defer r.Close()
			data, err := io.ReadAll(r)
			if err != nil {
				return nil, err
			}
			return rpc.NewDownload("upper-"+f.Name, "text/plain", append(bytes.ToUpper(data), " ("+note+")"...)), nil
		}},
		{Name: "echo", Params: []string{"v"}, Handler: func(ctx context.Context, args rpc.Args) (any, error) {
			var v any
			err := args.Decode(0, &v)
			return v, err
		}},
		{Name: "fail", Handler: func(ctx context.Context, _ rpc.Args) (any, error) {
			return nil, rpc.NewError(rpc.CodeFailedPrecondition, "not now")
		}},
	}})
	mux := http.NewServeMux()
	mux.Handle("/parley/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/parley/call" {
			requests.Add(1)
		}
		srv.ServeHTTP(w, r)
	}))
	mux.Handle("/remoting/", http.StripPrefix("/remoting/", http.FileServer(http.Dir("testdata/remoting"))))
	mux.HandleFunc("/gate/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<!doctype html><title>Sign in</title><form>…</form>")
	})
	mux.HandleFunc("/down/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<h1>502 Bad Gateway</h1>")
	})
	return serve(t, mux), start, end, requests
}

type outcome struct {
	Ok      any    `json:"ok"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func TestRemotingCancellation(t *testing.T) {
	url, started, ended, _ := labServer(t)
	page := newUser(t)
	openPage(t, page, url+"/remoting/")

	eval[chromedp.Void](t, page, `startWait()`)
	<-started
	eval[chromedp.Void](t, page, `abortWait()`)
	assert.Equal(t, outcome{Code: "canceled", Message: "call canceled"}, eval[outcome](t, page, `waitOutcome`))
	select {
	case err := <-ended:
		assert.ErrorIs(t, err, context.Canceled, "the page gave up, so the server canceled the method")
	case <-time.After(20 * time.Second):
		t.Fatal("the server never canceled the aborted call")
	}

	got := eval[outcome](t, page, `timedWait(200)`)
	<-started
	assert.Equal(t, "deadline_exceeded", got.Code)
	select {
	case err := <-ended:
		// The deadline sent with the call, or the aborted request, ends it.
		assert.True(t, errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled), "%v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the server never ended the timed-out call")
	}
}

func TestRemotingUploadDownload(t *testing.T) {
	url, _, _, _ := labServer(t)
	page := newUser(t)
	openPage(t, page, url+"/remoting/")

	path := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(path, []byte("hello from disk"), 0o600))
	require.NoError(t, chromedp.Do(page, chromedp.SetUploadFiles(chromedp.ID("file"), []string{path})))
	type ref struct {
		URL         string `json:"url"`
		Name        string `json:"name"`
		ContentType string `json:"contentType"`
		Size        int    `json:"size"`
	}
	type result struct {
		Ref   ref    `json:"ref"`
		Body  string `json:"body"`
		Type  string `json:"type"`
		Again int    `json:"again"`
	}
	got := eval[result](t, page, `uploadChosen()`)
	want := "HELLO FROM DISK (from a file input)"
	assert.Equal(t, want, got.Body)
	assert.Equal(t, "upper-notes.txt", got.Ref.Name)
	assert.Equal(t, "text/plain", got.Ref.ContentType)
	assert.Equal(t, len(want), got.Ref.Size)
	assert.Regexp(t, `^/parley/download/[A-Za-z0-9_-]{22}$`, got.Ref.URL)
	assert.Equal(t, "text/plain", got.Type)
	assert.Equal(t, http.StatusNotFound, got.Again, "a download is served once")

	blob := eval[result](t, page, `uploadBlob("bytes of a blob")`)
	assert.Equal(t, "BYTES OF A BLOB (from a blob)", blob.Body)
	assert.Equal(t, "upper-blob", blob.Ref.Name)
}

func TestRemotingRepliesAndStyles(t *testing.T) {
	url, _, _, requests := labServer(t)
	page := newUser(t)
	openPage(t, page, url+"/remoting/")

	gate := eval[outcome](t, page, `gated("/gate/")`)
	assert.Equal(t, "unauthenticated", gate.Code, "a redirect to a login page: %s", gate.Message)
	down := eval[outcome](t, page, `gated("/down/")`)
	assert.Equal(t, "unavailable", down.Code, "a proxy's 502 page: %s", down.Message)

	assert.Equal(t, []string{"callback:cb", "errorHandler:failed_precondition:not now"}, eval[[]string](t, page, `dwr()`))

	before := requests.Load()
	assert.Equal(t, []float64{1, 2, 3}, eval[[]float64](t, page, `orderedBatch()`))
	assert.Equal(t, before+1, requests.Load(), "an explicit batch is one request")
}
