package jsruntime

import (
	"bytes"
	"strconv"
)

// MaxSafeInteger is the largest integer a JavaScript number holds exactly,
// 2^53−1 (Number.MAX_SAFE_INTEGER). Its negation is the smallest.
const MaxSafeInteger = 1<<53 - 1

// maxSafeDigits is MaxSafeInteger in decimal.
const maxSafeDigits = "9007199254740991"

// UnsafeIntegerError reports a JSON integer literal that a JavaScript
// number cannot hold exactly.
type UnsafeIntegerError struct {
	// Literal is the integer as written in the JSON text.
	Literal string
	// Offset is the byte offset of the literal in the JSON text.
	Offset int
}

// Error implements error.
func (e *UnsafeIntegerError) Error() string {
	return "integer " + e.Literal + " cannot be represented exactly in JavaScript (the limit is ±" +
		strconv.Itoa(MaxSafeInteger) + ")"
}

// CheckSafeIntegers scans the JSON text data and returns an
// *UnsafeIntegerError for the first integer literal (a number written
// without '.', 'e' or 'E') beyond ±(2^53−1), or nil if there is none.
// Digits inside strings are ignored. It does not validate data: for text
// that is not JSON the result is unspecified, but it never panics.
func CheckSafeIntegers(data []byte) error {
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case c == '"':
			i = skipString(data, i+1)
		case c == '-' || (c >= '0' && c <= '9'):
			start := i
			if c == '-' {
				i++
			}
			digits := i
			for i < len(data) && data[i] >= '0' && data[i] <= '9' {
				i++
			}
			end := i
			fraction := false
			for i < len(data) && isNumberByte(data[i]) {
				fraction = true
				i++
			}
			if !fraction && !safeMagnitude(data[digits:end]) {
				return &UnsafeIntegerError{Literal: string(data[start:end]), Offset: start}
			}
		default:
			i++
		}
	}
	return nil
}

// skipString returns the index just past the string whose contents start
// at i, or len(data) if it is not closed.
func skipString(data []byte, i int) int {
	for {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			return len(data)
		}
		q := i + j
		n := 0
		for k := q - 1; k >= i && data[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		i = q + 1
	}
}

// isNumberByte reports whether c continues a number past its integer
// digits: a fraction or an exponent.
func isNumberByte(c byte) bool {
	switch c {
	case '.', 'e', 'E', '+', '-':
		return true
	}
	return c >= '0' && c <= '9'
}

// safeMagnitude reports whether the decimal digits d are at most
// MaxSafeInteger.
func safeMagnitude(d []byte) bool {
	for len(d) > 1 && d[0] == '0' {
		d = d[1:]
	}
	switch {
	case len(d) < len(maxSafeDigits):
		return true
	case len(d) > len(maxSafeDigits):
		return false
	}
	return string(d) <= maxSafeDigits
}
