package netnstest

import "testing"

func TestCheckIfName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"eth0", true},
		{"veth-pod-12345a", true},
		{"", false},
		{"a-name-longer-than-15", false},
		{"has space", false},
		{"a/b", false},
		{"a:b", false},
		{"nl\n", false},
	} {
		if err := checkIfName(tc.name); (err == nil) != tc.ok {
			t.Errorf("checkIfName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
