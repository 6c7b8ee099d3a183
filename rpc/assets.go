package rpc

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/parley-go/parley/jsruntime"
)

// Media types of the served files.
const (
	jsType = "text/javascript; charset=utf-8"
	tsType = "application/typescript; charset=utf-8"
)

// asset is a file served from memory with a content-hash ETag.
type asset struct {
	body        []byte
	etag        string
	contentType string
	// immutable marks a file served at a content-hashed URL, which
	// caches may keep for a year without asking again.
	immutable bool
}

func newAsset(body []byte, contentType string) asset {
	sum := sha256.Sum256(body)
	return asset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, contentType: contentType}
}

// hashed returns the variant of a served at a content-hashed URL, with
// body as its content, and that URL's file name: stem, a dot, the first
// 16 hex digits of the SHA-256 of body, and ".js".
func hashed(stem string, body []byte) (asset, string) {
	a := newAsset(body, jsType)
	a.immutable = true
	return a, stem + "." + a.etag[1:17] + ".js"
}

// engineTypes is engine.d.ts, the runtime's TypeScript declarations.
var engineTypes = newAsset(jsruntime.Types, tsType)

// engineFiles is engine.js at its plain and content-hashed URLs.
type engineFiles struct {
	plain, hashed asset
	// hashedName is the hashed file's name, such as "engine.0123456789abcdef.js".
	hashedName string
}

func newEngineFiles() engineFiles {
	h, name := hashed("engine", jsruntime.Engine)
	return engineFiles{plain: newAsset(jsruntime.Engine, jsType), hashed: h, hashedName: name}
}

// addModule adds the files of a service's ES module to files: NAME.js,
// and NAME.HASH.js, which imports the runtime at its hashed URL, so that
// a cache never pairs a module with another version of the runtime. It
// returns the hashed file's name.
func (s *Server) addModule(files map[string]asset, name, module string) string {
	files[name+".js"] = newAsset([]byte(module), jsType)
	h, hashedName := hashed(name, []byte(s.importHashedRuntime(module)))
	files[hashedName] = h
	return hashedName
}

// importHashedRuntime rewrites the imports of the runtime in module, as
// "../engine.js" or by its absolute path under the prefix, to import the
// runtime's hashed URL instead.
func (s *Server) importHashedRuntime(module string) string {
	to := `"../` + s.engine.hashedName + `"`
	for _, from := range []string{`"../engine.js"`, `"` + s.prefix + `engine.js"`} {
		module = strings.ReplaceAll(module, "from "+from, "from "+to)
		module = strings.ReplaceAll(module, "import "+from, "import "+to)
	}
	return module
}

// asset returns the file that rest, a path under the prefix, names:
// engine.js or engine.d.ts, a service's module or declarations under
// "interface/", or one of their content-hashed variants.
func (s *Server) asset(rest string) (asset, bool) {
	switch rest {
	case "engine.js":
		return s.engine.plain, true
	case "engine.d.ts":
		return engineTypes, true
	case s.engine.hashedName:
		return s.engine.hashed, true
	}
	file, ok := strings.CutPrefix(rest, "interface/")
	if !ok {
		return asset{}, false
	}
	name, _, _ := strings.Cut(file, ".")
	s.mu.RLock()
	svc := s.services[name]
	s.mu.RUnlock()
	if svc == nil {
		return asset{}, false
	}
	a, ok := svc.files[file]
	return a, ok
}

// AssetURL returns the content-hashed URL path of the file served at
// path name under the prefix: "engine.js", or "interface/NAME.js" for the
// module of a registered service. With the default prefix, "engine.js"
// gives "/parley/engine.0123456789abcdef.js". The file at that URL never
// changes and is served with "Cache-Control: public, max-age=31536000,
// immutable"; a hashed module imports the runtime at its hashed URL too.
// When the content changes (another runtime, a regenerated module), so
// does the URL, and the old one gets 404. Use it in HTML templates, or
// put ImportMap in the page. A name with no hashed variant is an error.
func (s *Server) AssetURL(name string) (string, error) {
	if name == "engine.js" {
		return s.prefix + s.engine.hashedName, nil
	}
	if file, ok := strings.CutPrefix(name, "interface/"); ok {
		if svc, ok := strings.CutSuffix(file, ".js"); ok {
			if u, err := s.ModuleURL(svc); err == nil {
				return u, nil
			}
		}
	}
	return "", fmt.Errorf("rpc: no content-hashed file for %q", name)
}

// ModuleURL returns the content-hashed URL path of the ES module of the
// registered service, such as "/parley/interface/Chat.0123456789abcdef.js";
// see AssetURL. A service that is not registered, or has no module, is an
// error.
func (s *Server) ModuleURL(service string) (string, error) {
	s.mu.RLock()
	svc := s.services[service]
	s.mu.RUnlock()
	if svc == nil || svc.hashedModule == "" {
		return "", fmt.Errorf("rpc: no module for service %q", service)
	}
	return s.prefix + "interface/" + svc.hashedModule, nil
}

// ImportMap returns the JSON of an import map that maps the plain URL
// paths of the runtime and of every registered service's module, such as
// "/parley/engine.js", to their content-hashed ones (see AssetURL), so
// that pages keep importing the plain paths and load the hashed files:
//
//	<script type="importmap">{"imports":{"/parley/engine.js":"/parley/engine.0123456789abcdef.js",…}}</script>
//
// The map must come before the page's first module script. The JSON has
// <, > and & escaped, so it can be inserted in the page as it is: with
// html/template, as a template.HTML. Under a Content-Security-Policy the
// inline map needs a nonce or its hash in script-src.
func (s *Server) ImportMap() []byte {
	imports := map[string]string{s.prefix + "engine.js": s.prefix + s.engine.hashedName}
	s.mu.RLock()
	for name, svc := range s.services {
		if svc.hashedModule != "" {
			imports[s.prefix+"interface/"+name+".js"] = s.prefix + "interface/" + svc.hashedModule
		}
	}
	s.mu.RUnlock()
	b, _ := json.Marshal(struct { // a map of strings always encodes
		Imports map[string]string `json:"imports"`
	}{imports})
	return b
}

// serveAsset serves a with its ETag, answering a matching If-None-Match
// with 304. A plain URL is served "no-cache", so that caches ask again
// each time; a content-hashed one is cached for a year.
func serveAsset(w http.ResponseWriter, r *http.Request, a asset) {
	h := w.Header()
	h.Set("ETag", a.etag)
	if a.immutable {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", a.contentType)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(a.body)
}
