package provisioning_test

import (
	"errors"
	"testing"

	"github.com/roster-app/roster/provisioning"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Ada@Example.com", "ada@example.com", true},
		{"  ada.lovelace+roster@mail.example.co.uk ", "ada.lovelace+roster@mail.example.co.uk", true},
		{"o'brien@example.com", "o'brien@example.com", true},
		{"", "", false},
		{"ada", "", false},
		{"ada@localhost", "", false},
		{"Ada <ada@example.com>", "", false},
		{"<ada@example.com>", "", false},
		{"ada@example.com?subject=hi", "", false},
		{"ada@example.com/x", "", false},
		{"ada@exa_mple.com", "", false},
		{"ada@-example.com", "", false},
		{"ada..x@example.com", "", false},
		{".ada@example.com", "", false},
		{"a da@example.com", "", false},
		{"ada@example.com, bob@example.com", "", false},
		{"\"ada\"@example.com", "", false},
		{"Ⱥda@example.com", "", false},
		{"ada@exämple.com", "", false},
		{"<!channel>", "", false},
	}
	for _, tt := range tests {
		got, err := provisioning.NormalizeEmail(tt.in)
		if tt.ok && (err != nil || got != tt.want) {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if !tt.ok && !errors.Is(err, provisioning.ErrInvalid) {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want ErrInvalid", tt.in, got, err)
		}
	}
}
