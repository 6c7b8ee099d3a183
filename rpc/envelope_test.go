package rpc

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecodeRequest checks the fast request decoder against
// encoding/json: on any input both accept, they must agree field by
// field, and the fast one must never panic.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"session":"s1","ack":4,"calls":[{"id":1,"service":"Calc","method":"add","args":[1,2]}]}`,
		`{"calls":[{"id":"x","service":"Calc","method":"add","args":[{"a":[1,"]"]},null,"\"}"],"timeout":5}],"ordered":true}`,
		`{"calls":[{"id":1},{"id":2,"args":[1,2,3,4,5,6]}],"wait":false,"page":"/p"}`,
		`{"Calls":[],"x":{"y":[true,false,null]}}`,
		`{"calls":null,"ack":-1}`, `{"calls":[{"service":"Ca\u006cc"}]}`, `[]`, `{}`, `{"calls":[`,
	} {
		f.Add([]byte(s))
	}
	srv := NewServer()
	srv.Register(testService())
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast request
		var spare spareSlices
		fastErr := srv.decodeRequest(body, &fast, &spare)
		var slow request
		slowErr := json.Unmarshal(body, &slow)
		if (fastErr == nil) != (slowErr == nil) {
			t.Fatalf("%q: fast error %v, encoding/json error %v", body, fastErr, slowErr)
		}
		if fastErr != nil {
			return
		}
		if fast.Session != slow.Session || fast.Ack != slow.Ack || fast.Page != slow.Page || fast.Ordered != slow.Ordered ||
			(fast.Wait == nil) != (slow.Wait == nil) || (fast.Wait != nil && *fast.Wait != *slow.Wait) ||
			(fast.Calls == nil) != (slow.Calls == nil) || len(fast.Calls) != len(slow.Calls) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", body, fast, slow)
		}
		for i, fc := range fast.Calls {
			sc := slow.Calls[i]
			if !bytes.Equal(fc.ID, sc.ID) || fc.Service != sc.Service || fc.Method != sc.Method || fc.Timeout != sc.Timeout ||
				(fc.Args == nil) != (sc.Args == nil) || len(fc.Args) != len(sc.Args) {
				t.Fatalf("%q: call %d: fast %+v, encoding/json %+v", body, i, fc, sc)
			}
			for j := range fc.Args {
				if !bytes.Equal(fc.Args[j], sc.Args[j]) {
					t.Fatalf("%q: call %d arg %d: fast %s, encoding/json %s", body, i, j, fc.Args[j], sc.Args[j])
				}
			}
			if fc.desc != nil && (fc.desc.Name != fc.Method || fast.Calls[i].Service != "Calc") {
				t.Fatalf("%q: call %d resolved to the wrong method", body, i)
			}
		}
	})
}
