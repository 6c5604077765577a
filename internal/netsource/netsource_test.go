package netsource_test

import (
	"strings"
	"testing"

	"github.com/nuxari/nuxari/internal/netsource"
)

func TestKey(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"198.51.100.7", "198.51.100.7"},
		{"198.51.100.7:443", "198.51.100.7"},
		{"::ffff:198.51.100.7", "198.51.100.7"},
		{"[::ffff:198.51.100.7]:80", "198.51.100.7"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2::1]:8080", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"pipe", "pipe"},
		{"", ""},
	} {
		if got := netsource.Key(c.in); got != c.want {
			t.Errorf("Key(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	long := strings.Repeat("x", 100)
	if k := netsource.Key(long); len(k) != 16 || k == netsource.Key(long+"y") {
		t.Errorf("a long non-address is not hashed to 16 bytes: %q", k)
	}
}
