package loopback

import "testing"

func TestHost(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"127.0.0.1", "127.0.0.2", "127.255.255.254", "localhost", "::ffff:127.0.0.1"} {
		if _, err := Host(h); err != nil {
			t.Errorf("Host(%q) = %v, want accepted", h, err)
		}
	}
	for _, h := range []string{"10.0.0.1", "192.168.1.1", "0.0.0.0", "::1", "::", "example.com", "", "128.0.0.1"} {
		if _, err := Host(h); err == nil {
			t.Errorf("Host(%q) accepted, want refused", h)
		}
	}
}

func TestHostPortAndURL(t *testing.T) {
	t.Parallel()
	if err := HostPort("127.0.0.1:0"); err != nil {
		t.Error(err)
	}
	for _, hp := range []string{":8080", "0.0.0.0:80", "8.8.8.8:53", "127.0.0.1"} {
		if HostPort(hp) == nil {
			t.Errorf("HostPort(%q) accepted", hp)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080/parley/", "https://127.0.0.1:8443/parley/"} {
		if err := URL(u); err != nil {
			t.Error(err)
		}
	}
	for _, u := range []string{"https://10.0.0.1/", "http://example.com/parley/", "http://10.1.1.1:80/", "ftp://127.0.0.1/"} {
		if URL(u) == nil {
			t.Errorf("URL(%q) accepted", u)
		}
	}
}

func TestSources(t *testing.T) {
	t.Parallel()
	got, err := Sources(10, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.10", "127.0.0.11", "127.0.0.12"}
	for i, a := range got {
		if a.String() != want[i] {
			t.Fatalf("Sources(10, 3) = %v, want %v", got, want)
		}
	}
	for _, tc := range [][2]int{{0, 1}, {250, 10}, {1, 0}} {
		if _, err := Sources(tc[0], tc[1]); err == nil {
			t.Errorf("Sources(%d, %d) accepted", tc[0], tc[1])
		}
	}
}
