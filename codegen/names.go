package codegen

import (
	"strconv"
	"unicode"
)

// LowerCamel returns the JS name of the Go name s: the leading run of
// capitals is lowered, keeping the last one when it starts the next word,
// and a plural initialism stays in one piece:
// SetName→setName, ID→id, HTTPGet→httpGet, URLs→urls, MD5Sum→md5Sum.
func LowerCamel(s string) string {
	r := []rune(s)
	n := 0
	for n < len(r) && unicode.IsUpper(r[n]) {
		n++
	}
	switch {
	case n == 0:
		return s
	case n == len(r) || n == 1 || !unicode.IsLower(r[n]) || isPluralAt(r, n):
		return lowerRunes(r, n)
	default:
		return lowerRunes(r, n-1)
	}
}

// isPluralAt reports whether r[n:] starts with an "s" that ends a word, as
// the s of URLs.
func isPluralAt(r []rune, n int) bool {
	return r[n] == 's' && (n+1 == len(r) || !unicode.IsLower(r[n+1]))
}

// lowerRunes returns r with its first n runes lowered.
func lowerRunes(r []rune, n int) string {
	out := make([]rune, len(r))
	copy(out, r)
	for i := range n {
		out[i] = unicode.ToLower(out[i])
	}
	return string(out)
}

// jsReserved holds the words a JS module cannot use as a parameter name,
// plus the names the generated stubs use themselves.
var jsReserved = map[string]bool{
	"await": true, "break": true, "case": true, "catch": true, "class": true,
	"const": true, "continue": true, "debugger": true, "default": true,
	"delete": true, "do": true, "else": true, "enum": true, "export": true,
	"extends": true, "false": true, "finally": true, "for": true,
	"function": true, "if": true, "implements": true, "import": true,
	"in": true, "instanceof": true, "interface": true, "let": true,
	"new": true, "null": true, "package": true, "private": true,
	"protected": true, "public": true, "return": true, "static": true,
	"super": true, "switch": true, "this": true, "throw": true, "true": true,
	"try": true, "typeof": true, "var": true, "void": true, "while": true,
	"with": true, "yield": true, "arguments": true, "eval": true,
	// Names the stubs use: the options parameter and the runtime import.
	"options": true, "parley": true,
}

// paramNames returns the Go names of a method's parameters, with "argN"
// (1-based) for unnamed and blank ones, and their JS names, with reserved
// words escaped by a trailing underscore. Both lists are free of repeats.
func paramNames(source []string) (goNames, jsNames []string) {
	goTaken := map[string]bool{}
	for _, n := range source {
		goTaken[n] = true
	}
	jsTaken := map[string]bool{}
	for i, n := range source {
		if n == "" || n == "_" {
			n = unique("arg"+strconv.Itoa(i+1), goTaken)
		}
		goNames = append(goNames, n)
		js := n
		if jsReserved[js] {
			js += "_"
		}
		js = unique(js, jsTaken)
		jsNames = append(jsNames, js)
	}
	return goNames, jsNames
}

// unique returns name, with underscores appended until it is not in taken,
// and adds the result to taken.
func unique(name string, taken map[string]bool) string {
	for taken[name] {
		name += "_"
	}
	taken[name] = true
	return name
}

// isJSIdent reports whether s can be a JS property name without quotes.
func isJSIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || r == '$' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r))
		if !ok {
			return false
		}
	}
	return true
}
