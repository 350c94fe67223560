package main

import (
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want byteSize
	}{
		{"0", 0},
		{"4096", 4096},
		{"4096B", 4096},
		{"1KiB", 1024},
		{"1kB", 1000},
		{"1KB", 1000},
		{"10MiB", 10 << 20},
		{"512MiB", 512 << 20},
		{"512mib", 512 << 20},
		{"1.5GB", 1_500_000_000},
		{"1.5GiB", 3 << 29},
		{"0.5KiB", 512},
		{"2TiB", 2 << 40},
		{"3TB", 3_000_000_000_000},
		{" 10 MiB ", 10 << 20},
		{"1.", 1},
		{".5KiB", 512},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseByteSize(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("parseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseByteSizeErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"", "want a number and a unit"},
		{"MiB", "want a number and a unit"},
		{"-1MiB", "want a number and a unit"},
		{".", "want a number and a unit"},
		{"1.2.3MB", "want a number and a unit"},
		{"10M", `unknown unit "M"`},
		{"10 megabytes", `unknown unit "megabytes"`},
		{"1e3", `unknown unit "e3"`},
		{"1.5B", "not a whole number of bytes"},
		{"0.1KiB", "not a whole number of bytes"},
		{"9999999TiB", "too large"},
		{"9223372036854775808", "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseByteSize(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parseByteSize(%q) = %d, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
			}
		})
	}
}

func TestByteSizeStringRoundTrips(t *testing.T) {
	tests := []struct {
		size byteSize
		want string
	}{
		{0, "0B"},
		{1023, "1023B"},
		{1024, "1KiB"},
		{1000, "1kB"},
		{10 << 20, "10MiB"},
		{512 << 20, "512MiB"},
		{1_500_000_000, "1500MB"},
		{3 << 29, "1536MiB"},
		{5 << 40, "5TiB"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.size.String(); got != tt.want {
				t.Fatalf("byteSize(%d).String() = %q, want %q", tt.size, got, tt.want)
			}
			back, err := parseByteSize(tt.want)
			if err != nil || back != tt.size {
				t.Fatalf("parseByteSize(%q) = %d, %v; want %d", tt.want, back, err, tt.size)
			}
		})
	}
}
