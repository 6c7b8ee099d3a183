package rpc

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
)

// The debug page pre-fills each method's arguments with a value of each
// parameter's type, read from the method's TypeScript signature and the
// declarations of the service's .d.ts: 0 for a number, "" for a string,
// false for a boolean, [] for an array, {} for a record, an object with
// every field for an interface or an object type, an enum's first value,
// and null for anything else (unknown, Blob, a type it cannot read, and a
// nullable type inside itself).

// tsDecls are the named types of a service's .d.ts: an interface's
// properties, or the type an alias stands for.
type tsDecls struct {
	interfaces map[string][]tsProp
	aliases    map[string]string
}

// tsProp is a property of a declared interface.
type tsProp struct {
	name, typ string
}

var (
	tsInterfaceLine = regexp.MustCompile(`^export interface ([A-Za-z_$][\w$]*) \{$`)
	tsAliasLine     = regexp.MustCompile(`^export type ([A-Za-z_$][\w$]*) = (.*);$`)
	tsPropLine      = regexp.MustCompile(`^\s+("(?:[^"\\]|\\.)*"|[A-Za-z_$][\w$]*)\??: (.*);$`)
	tsComment       = regexp.MustCompile(`/\*.*?\*/`)
)

// parseDecls reads the declarations of a .d.ts written by parleygen: one
// declaration or property a line.
func parseDecls(dts string) tsDecls {
	d := tsDecls{interfaces: map[string][]tsProp{}, aliases: map[string]string{}}
	var in string // the interface being read
	for line := range strings.Lines(dts) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case in != "" && line == "}":
			in = ""
		case in != "":
			if m := tsPropLine.FindStringSubmatch(line); m != nil {
				name := m[1]
				if strings.HasPrefix(name, `"`) && json.Unmarshal([]byte(name), &name) != nil {
					continue
				}
				d.interfaces[in] = append(d.interfaces[in], tsProp{name: name, typ: m[2]})
			}
		default:
			if m := tsInterfaceLine.FindStringSubmatch(line); m != nil {
				in = m[1]
				d.interfaces[in] = []tsProp{}
			} else if m := tsAliasLine.FindStringSubmatch(line); m != nil {
				d.aliases[m[1]] = m[2]
			}
		}
	}
	return d
}

// argsTemplate returns the JSON the arguments form of a method starts
// with: a value of each parameter's type, read from sig, a TypeScript
// signature such as "send(text: string): Promise<number>", and decls. n
// is the number of parameters; those it cannot read are null.
func argsTemplate(sig string, n int, decls tsDecls) string {
	args := make([]any, n)
	if open := strings.IndexByte(sig, '('); open >= 0 {
		p := &tsParser{src: tsComment.ReplaceAllString(sig[open+1:], ""), decls: decls}
		for i := 0; i < n; i++ {
			if _, ok := p.param(); !ok {
				break
			}
			args[i] = p.value(map[string]bool{})
			if !p.eat(",") {
				break
			}
		}
	}
	parts := make([]string, n)
	for i, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			b = []byte("null")
		}
		parts[i] = string(b)
	}
	compact := "[" + strings.Join(parts, ", ") + "]"
	if len(compact) <= debugCompactArgs {
		return compact
	}
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(compact), "", "  ") != nil {
		return compact
	}
	return buf.String()
}

// debugCompactArgs is the longest arguments template kept on one line.
const debugCompactArgs = 60

// tsParser reads one TypeScript type at a time from src and turns it into
// a value of that type.
type tsParser struct {
	src   string
	decls tsDecls
}

func (p *tsParser) skipSpace() { p.src = strings.TrimLeft(p.src, " \t\r\n") }

// eat consumes tok if it comes next.
func (p *tsParser) eat(tok string) bool {
	p.skipSpace()
	rest, ok := strings.CutPrefix(p.src, tok)
	if ok {
		p.src = rest
	}
	return ok
}

var (
	tsIdent   = regexp.MustCompile(`^(?:"(?:[^"\\]|\\.)*"|[A-Za-z_$][\w$]*)`)
	tsLiteral = regexp.MustCompile(`^(?:"(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|true|false)`)
)

// param consumes "name:" or "name?:" and returns the name, unquoted,
// reporting whether it found one.
func (p *tsParser) param() (string, bool) {
	p.skipSpace()
	name := tsIdent.FindString(p.src)
	if name == "" {
		return "", false
	}
	p.src = p.src[len(name):]
	if strings.HasPrefix(name, `"`) && json.Unmarshal([]byte(name), &name) != nil {
		return "", false
	}
	p.eat("?")
	return name, p.eat(":")
}

// value consumes a type, a union of members, and returns a value of its
// first member that is not null. expanding holds the interfaces being
// expanded, so a recursive type ends in null.
func (p *tsParser) value(expanding map[string]bool) any {
	var v any
	first := true
	for {
		m, isNull := p.member(expanding)
		if first && !isNull {
			v, first = m, false
		}
		if !p.eat("|") {
			return v
		}
	}
}

// member consumes a union member: a primary type followed by any number
// of "[]".
func (p *tsParser) member(expanding map[string]bool) (v any, isNull bool) {
	v, isNull = p.primary(expanding)
	for p.eat("[]") {
		v, isNull = []any{}, false
	}
	return v, isNull
}

// primary consumes a parenthesized type, an object type, a literal or a
// named type with its type arguments.
func (p *tsParser) primary(expanding map[string]bool) (any, bool) {
	p.skipSpace()
	switch {
	case p.eat("("):
		v := p.value(expanding)
		p.eat(")")
		return v, false
	case p.eat("{"):
		obj := tsObject{}
		for {
			name, ok := p.param()
			if !ok {
				break
			}
			obj = append(obj, tsField{name: name, value: p.value(expanding)})
			if !p.eat(";") && !p.eat(",") {
				break
			}
		}
		p.eat("}")
		return obj, false
	}
	if lit := tsLiteral.FindString(p.src); lit != "" && json.Valid([]byte(lit)) {
		p.src = p.src[len(lit):]
		return json.RawMessage(lit), false
	}
	name := tsIdent.FindString(p.src)
	p.src = p.src[len(name):]
	if p.eat("<") {
		for {
			p.value(expanding)
			if !p.eat(",") {
				break
			}
		}
		p.eat(">")
	}
	return p.named(name, expanding), name == "null"
}

// named returns a value of the named type name.
func (p *tsParser) named(name string, expanding map[string]bool) any {
	switch name {
	case "string":
		return ""
	case "number":
		return 0
	case "boolean":
		return false
	case "Record", "Partial":
		return tsObject{}
	case "Array", "ReadonlyArray":
		return []any{}
	}
	if alias, ok := p.decls.aliases[name]; ok && !expanding[name] {
		expanding[name] = true
		defer delete(expanding, name)
		sub := &tsParser{src: tsComment.ReplaceAllString(alias, ""), decls: p.decls}
		return sub.value(expanding)
	}
	props, ok := p.decls.interfaces[name]
	if !ok || expanding[name] {
		return nil
	}
	expanding[name] = true
	defer delete(expanding, name)
	obj := make(tsObject, len(props))
	for i, prop := range props {
		sub := &tsParser{src: tsComment.ReplaceAllString(prop.typ, ""), decls: p.decls}
		obj[i] = tsField{name: prop.name, value: sub.value(expanding)}
	}
	return obj
}

// tsObject is a JSON object that keeps its fields in order.
type tsObject []tsField

// tsField is a field of a tsObject.
type tsField struct {
	name  string
	value any
}

// MarshalJSON writes the object with its fields in order.
func (o tsObject) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(f.name)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
