package rpc

import (
	"bytes"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/parley-go/parley/reverse"
)

// WithDebugPage serves a page at the prefix (GET /parley/) that lists
// every service and method of the application with its signature and
// documentation, with a form to call each with JSON arguments, and the
// live script sessions of each page. The runtime's own service
// (BuiltinService) is left out. Each form starts with a value of each
// parameter's type, read from the method's signature and the service's
// TypeScript declarations: 0, "", false, [], an object with every field,
// or an enum's first value. Off by default: it shows the whole API and lets anyone try
// it, so enable it in development only. The page needs no inline script
// and sets a Content-Security-Policy of script-src 'self'. Session ids
// are shown cut short, and browser ids not at all.
//
// The page is served only to the clients WithDebugAccess admits, by
// default those on the server's own machine; others get 403
// permission_denied.
func WithDebugPage() Option { return func(s *Server) { s.debugPage = true } }

// WithDebugAccess sets who may see the debug page: the requests for which
// allow returns true. Default: loopback clients only, that is requests
// whose client address (see WithTrustedProxies) is a loopback address
// and that, unless they came through a trusted proxy, carry no
// X-Forwarded-For, Forwarded or X-Real-IP header, since a reverse proxy
// on the same machine would make every visitor look local. It has no
// effect without WithDebugPage.
func WithDebugAccess(allow func(r *http.Request) bool) Option {
	return func(s *Server) { s.debugAccess = allow }
}

// forwardingHeaders are the headers a reverse proxy adds to name the
// client it forwards for.
var forwardingHeaders = []string{"X-Forwarded-For", "Forwarded", "X-Real-Ip"}

// debugAllowed reports whether r may see the debug page.
func (s *Server) debugAllowed(r *http.Request) bool {
	if s.debugAccess != nil {
		return s.debugAccess(r)
	}
	if !s.clientAddr(r).IsLoopback() {
		return false
	}
	if s.viaTrustedProxy(r) {
		return true
	}
	for _, h := range forwardingHeaders {
		if _, ok := r.Header[h]; ok {
			return false
		}
	}
	return true
}

// serveDebug serves the debug page ("") and its script and style sheet.
func (s *Server) serveDebug(w http.ResponseWriter, r *http.Request, rest string) {
	if !s.debugAllowed(r) {
		s.refuse(w, NewError(CodePermissionDenied, "the debug page is not served to this client"))
		return
	}
	switch rest {
	case "debug.js":
		serveAsset(w, r, debugScript)
		return
	case "debug.css":
		serveAsset(w, r, debugStyle)
		return
	}
	var buf bytes.Buffer
	if err := debugPage.Execute(&buf, s.debugView()); err != nil {
		s.log.Error("parley: rendering the debug page", "err", err)
		s.refuse(w, NewError(CodeInternal, "internal error"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(buf.Bytes())
}

// debugService and debugMethod are what the page shows of the registry.
type debugService struct {
	Name    string
	Doc     string
	Methods []debugMethod
}

type debugMethod struct {
	Name      string
	Signature string
	Doc       string
	Access    string
	Template  string // the arguments form's initial JSON
	Rows      int    // the arguments box's height in lines
}

type debugSessionGroup struct {
	Page     string
	Sessions []reverse.SessionInfo
}

type debugView struct {
	Prefix   string
	Now      time.Time
	Services []debugService
	Hub      bool
	Pages    []debugSessionGroup
	Total    int
}

func (s *Server) debugView() debugView {
	v := debugView{Prefix: s.prefix, Now: time.Now()}
	s.mu.RLock()
	for _, svc := range s.services {
		if svc.desc.Name == BuiltinService {
			continue // the runtime's own calls, not the application's API
		}
		ds := debugService{Name: svc.desc.Name, Doc: svc.desc.Doc}
		decls := parseDecls(svc.desc.Types)
		for _, m := range svc.desc.Methods {
			sig := m.Signature
			if sig == "" {
				sig = m.Name + "(" + strings.Join(m.Params, ", ") + ")"
			}
			args := argsTemplate(m.Signature, len(m.Params), decls)
			ds.Methods = append(ds.Methods, debugMethod{
				Name: m.Name, Signature: sig, Doc: m.Doc,
				Access: describeAccess(m.Access), Template: args,
				Rows: min(max(strings.Count(args, "\n")+1, 2), debugMaxRows),
			})
		}
		slices.SortFunc(ds.Methods, func(a, b debugMethod) int { return strings.Compare(a.Name, b.Name) })
		v.Services = append(v.Services, ds)
	}
	s.mu.RUnlock()
	slices.SortFunc(v.Services, func(a, b debugService) int { return strings.Compare(a.Name, b.Name) })
	if s.hub != nil {
		v.Hub = true
		for _, info := range s.hub.Snapshot() {
			v.Total++
			if n := len(v.Pages); n == 0 || v.Pages[n-1].Page != info.Page {
				v.Pages = append(v.Pages, debugSessionGroup{Page: info.Page})
			}
			g := &v.Pages[len(v.Pages)-1]
			g.Sessions = append(g.Sessions, info)
		}
	}
	return v
}

// describeAccess says in words what a method requires of its caller.
func describeAccess(a Access) string {
	switch {
	case len(a.Roles) > 0:
		return "requires the role " + strings.Join(a.Roles, " or ")
	case a.Login:
		return "requires login"
	}
	return ""
}

// debugMaxRows is the most lines the arguments box starts with.
const debugMaxRows = 12

// debugIDChars is how many characters of a session id the page shows.
const debugIDChars = 6

var debugPage = template.Must(template.New("debug").Funcs(template.FuncMap{
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return now.Sub(t).Round(time.Second).String() + " ago"
	},
	"short": func(id string) string {
		if len(id) > debugIDChars {
			return id[:debugIDChars] + "…"
		}
		return id
	},
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Parley debug</title>
<link rel="stylesheet" href="{{.Prefix}}debug.css">
<script type="module" src="{{.Prefix}}debug.js"></script>
</head>
<body>
<header><h1>Parley</h1><p>Services, methods and live script sessions of this server.</p></header>
<main>
<section id="services">
<h2>Services</h2>
{{range .Services}}{{$svc := .Name}}
<article class="service" id="service-{{.Name}}">
<h3>{{.Name}}</h3>
{{if .Doc}}<p class="doc">{{.Doc}}</p>{{end}}
{{range .Methods}}
<form class="method" data-service="{{$svc}}" data-method="{{.Name}}">
<h4><code>{{.Signature}}</code>{{if .Access}} <span class="access">{{.Access}}</span>{{end}}</h4>
{{if .Doc}}<p class="doc">{{.Doc}}</p>{{end}}
<label>Arguments (a JSON array)
<textarea name="args" rows="{{.Rows}}" spellcheck="false">{{.Template}}</textarea></label>
<button type="submit">Call {{$svc}}.{{.Name}}</button>
<pre class="output" aria-live="polite"></pre>
</form>
{{end}}
</article>
{{else}}<p>No services are registered.</p>{{end}}
</section>
<section id="sessions">
<h2>Script sessions</h2>
{{if not .Hub}}<p>This server has no hub: no reverse Ajax.</p>
{{else if not .Pages}}<p>No live script sessions.</p>
{{else}}<p>{{.Total}} live, by page.</p>
<table>
<thead><tr><th>Page</th><th>Session</th><th>Transport</th><th>Outbox</th><th>Held</th><th>Last seen</th></tr></thead>
<tbody>
{{$now := .Now}}{{range .Pages}}{{$page := .Page}}{{range .Sessions}}
<tr><td>{{$page}}</td><td><code>{{short .ID}}</code></td><td>{{if .Transport}}{{.Transport}}{{else}}–{{end}}</td><td>{{.Pending}}</td><td>{{if .Held}}yes{{else}}no{{end}}</td><td>{{ago $now .LastSeen}}</td></tr>
{{end}}{{end}}
</tbody>
</table>
{{end}}
</section>
</main>
</body>
</html>
`))

var debugScript = newAsset([]byte(`// The debug page's script: each form calls its method with the JSON
// arguments typed into it and shows the result or the error.
import parley from "./engine.js";

for (const form of document.querySelectorAll("form.method")) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = form.querySelector(".output");
    out.className = "output pending";
    out.textContent = "calling…";
    let args;
    try {
      args = JSON.parse(form.elements.args.value);
      if (!Array.isArray(args)) throw new TypeError("the arguments must be a JSON array");
    } catch (err) {
      out.className = "output error";
      out.textContent = "bad arguments: " + err.message;
      return;
    }
    try {
      const result = await parley.call(form.dataset.service, form.dataset.method, args);
      out.className = "output ok";
      out.textContent = JSON.stringify(result, null, 2) ?? "undefined";
    } catch (err) {
      out.className = "output error";
      out.textContent = (err.code ?? "error") + ": " + err.message +
        (err.details !== undefined ? "\n" + JSON.stringify(err.details, null, 2) : "");
    }
  });
}
document.body.dataset.ready = "true";
`), "text/javascript; charset=utf-8")

var debugStyle = newAsset([]byte(`:root { color-scheme: light; --ink: #1d2330; --muted: #5b6475; --line: #d9dee8; --accent: #2b59c3; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: var(--ink); background: #f5f7fb; }
header { background: var(--ink); color: #fff; padding: 1rem 2rem; }
header h1 { margin: 0; font-size: 1.4rem; }
header p { margin: .2rem 0 0; color: #c9d1e3; }
main { padding: 1rem 2rem 3rem; max-width: 72rem; }
h2 { margin: 1.5rem 0 .5rem; font-size: 1.2rem; }
.service { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .5rem 1.2rem 1rem; margin-bottom: 1rem; }
.service > h3 { margin: .5rem 0; color: var(--accent); }
.doc { color: var(--muted); margin: .2rem 0 .6rem; white-space: pre-wrap; }
.method { border-top: 1px solid var(--line); padding-top: .6rem; margin-top: .6rem; }
.method h4 { margin: 0; font-weight: 600; }
.access { font-size: .8rem; font-weight: 500; color: #8a4b00; background: #fff1dc; border-radius: 4px; padding: 0 .4rem; }
label { display: block; font-size: .85rem; color: var(--muted); }
textarea { display: block; width: 100%; font: 13px/1.4 ui-monospace, monospace; border: 1px solid var(--line); border-radius: 4px; padding: .4rem; margin-top: .2rem; }
button { margin-top: .4rem; font: inherit; color: #fff; background: var(--accent); border: 0; border-radius: 4px; padding: .3rem .9rem; cursor: pointer; }
.output { margin: .5rem 0 0; padding: .4rem .6rem; border-radius: 4px; font: 13px/1.4 ui-monospace, monospace; white-space: pre-wrap; }
.output:empty { display: none; }
.output.ok { background: #e8f6ec; color: #14532d; }
.output.error { background: #fdecec; color: #8b1a1a; }
.output.pending { background: #eef1f7; color: var(--muted); }
table { border-collapse: collapse; background: #fff; border: 1px solid var(--line); width: 100%; }
th, td { text-align: left; padding: .35rem .7rem; border-bottom: 1px solid var(--line); }
th { background: #eef1f7; font-weight: 600; }
`), "text/css; charset=utf-8")
